"""Loading the validated data files in prompts/ and rag/grading/: one error style for every file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import ValidationError

from rag.errors import ConfigError

T = TypeVar("T")
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The C build of the safe loader where PyYAML has it (same documents, about 7x faster to read)."""

SHIPPED_PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
"""The prompts/ directory as shipped: every loader's default file. A configured directory (`PREP_PROMPTS_DIR`)
reaches the loaders from the edge, through `rag.grading.files.PromptFiles`."""


def load_yaml_mapping(path: Path, missing_hint: str = "restore it from git") -> dict:
    """The mapping in a YAML file (or a JSON file, by its `.json` suffix); a missing file, a parse error or a
    non-mapping is a ConfigError naming the file."""
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if kind == "JSON" else yaml.load(text, Loader=YAML_LOADER)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing; {missing_hint}") from exc
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a {kind} mapping")
    return data


def validated(path: Path, data: dict, parse: Callable[[dict], T]) -> T:
    """`parse(data)`, with a validation failure turned into a ConfigError naming the file and the first bad field."""
    try:
        return parse(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
