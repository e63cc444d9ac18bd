"""The structured-output modes the LLM grader asks a server for, in fallback order.

`json_schema` first; a server that rejects it gets `{"type": "json_object", "schema": ...}`, then plain
`json_object`. The mode an endpoint fell back to is remembered for the life of the process.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal

logger = logging.getLogger(__name__)

OutputMode = Literal["json_schema", "json_object+schema", "json_object"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("json_schema", "json_object+schema", "json_object")

_endpoint_modes: dict[str, int] = {}
_endpoint_lock = threading.Lock()


def forget_output_modes() -> None:
    """Forget every remembered structured-output fallback (tests; or after changing servers)."""
    with _endpoint_lock:
        _endpoint_modes.clear()


def output_mode_for(endpoint: str) -> OutputMode:
    """The structured-output mode this process currently uses for `endpoint`."""
    with _endpoint_lock:
        return OUTPUT_MODES[_endpoint_modes.get(endpoint, 0)]


def downgrade_mode(endpoint: str, failed: OutputMode) -> None:
    """Remember that `endpoint` rejected `failed`: this process starts with the next mode from now on."""
    index = min(OUTPUT_MODES.index(failed) + 1, len(OUTPUT_MODES) - 1)
    with _endpoint_lock:
        _endpoint_modes[endpoint] = max(_endpoint_modes.get(endpoint, 0), index)
    logger.info("%s rejected response_format %s; using %s from now on", endpoint, failed, OUTPUT_MODES[index])
