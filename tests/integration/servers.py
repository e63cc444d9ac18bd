"""Starting and stopping the real servers the integration tests talk to."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def running_server(
    command: Sequence[str], log_path: Path, ready: Callable[[], bool], name: str, startup_s: float
) -> Iterator[subprocess.Popen]:
    """Start `command` with its output in `log_path`, wait until `ready()` is true, stop it on exit.

    `ready` may raise while the server is still starting. The test fails with the log's tail when the
    process exits early or is not ready within `startup_s`.
    """
    log = log_path.open("w")
    process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                if ready():
                    break
            except Exception:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start within {startup_s:.0f}s: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
