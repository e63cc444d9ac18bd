"""Team-written eval sets: JSONL or YAML records, validated on load with file:line and field in every error."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rag.errors import PrepError

SETS_DIR = Path(__file__).resolve().parent / "sets"
SET_SUFFIXES = (".jsonl", ".yaml", ".yml")
DEFAULT_PATTERN = "team-*"


class EvalSetError(PrepError):
    """An eval set cannot be used; the message names the file, line and field."""


class EvalRecord(BaseModel):
    """One labelled answer to a bank question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question_id: str = Field(min_length=1)
    answer: str
    gold_score: float = Field(ge=0, le=10)
    tier: Literal["excellent", "good", "partial", "wrong", "empty"]
    group: str | None = None
    kind: Literal["plain", "paraphrase", "misconception", "padded", "adversarial"]
    base_id: str | None = None
    label_note: str = ""

    @field_validator("gold_score")
    @classmethod
    def _half_steps(cls, value: float) -> float:
        if abs(value * 2 - round(value * 2)) > 1e-9:
            raise ValueError("must be a multiple of 0.5")
        return value

    @model_validator(mode="after")
    def _base_for_derived(self) -> EvalRecord:
        if self.kind in ("padded", "adversarial") and not self.base_id:
            raise ValueError(f"a {self.kind} answer needs base_id: the id of the answer it was made from")
        if self.tier != "empty" and not self.answer.strip():
            raise ValueError("answer is blank but tier is not 'empty'")
        return self


@dataclass(frozen=True)
class LoadedRecord:
    record: EvalRecord
    path: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    records: tuple[LoadedRecord, ...]


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(record)"
    extra = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"field '{field}': {first['msg']}{extra}"


def _raw_jsonl(path: Path, text: str) -> Iterable[tuple[int, object]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{number}: not valid JSON: {exc.msg} (column {exc.colno})") from exc


def _raw_yaml(path: Path, text: str) -> Iterable[tuple[int, object]]:
    """Records of a YAML list (or a mapping with an `answers:` list), each with the line it starts on."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise EvalSetError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if isinstance(data, dict) and isinstance(data.get("answers"), list):
        items = data["answers"]
        node = next(value for key, value in node.value if key.value == "answers")
    elif isinstance(data, list):
        items = data
    else:
        raise EvalSetError(f"{path}:1: expected a list of answers (or a mapping with an 'answers:' list)")
    for child, item in zip(node.value, items, strict=True):
        yield child.start_mark.line + 1, item


def load_set_file(path: Path) -> EvalSet:
    """Parse and validate one file's records (cross-record checks happen in `validate_sets`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise EvalSetError(f"{path}: eval set file not found") from exc
    except UnicodeDecodeError as exc:
        raise EvalSetError(f"{path}: not UTF-8 text") from exc
    raw = _raw_yaml(path, text) if path.suffix in (".yaml", ".yml") else _raw_jsonl(path, text)
    records = []
    for line, item in raw:
        if not isinstance(item, dict):
            raise EvalSetError(f"{path}:{line}: expected an object with the answer's fields")
        try:
            records.append(LoadedRecord(EvalRecord.model_validate(item), path, line))
        except ValidationError as exc:
            raise EvalSetError(f"{path}:{line}: {_describe(exc)}") from exc
    if not records:
        raise EvalSetError(f"{path}: no answers in this eval set")
    return EvalSet(name=path.stem, path=path, records=tuple(records))


def validate_sets(sets: Sequence[EvalSet], question_ids: Iterable[str]) -> None:
    """Checks across records: unique ids, known questions, base answers that exist and answer the same question."""
    known = set(question_ids)
    seen: dict[str, LoadedRecord] = {}
    for loaded in (r for s in sets for r in s.records):
        record = loaded.record
        if record.id in seen:
            first = seen[record.id].where
            raise EvalSetError(f"{loaded.where}: field 'id': duplicate id '{record.id}' (first at {first})")
        seen[record.id] = loaded
        if record.question_id not in known:
            raise EvalSetError(
                f"{loaded.where}: field 'question_id': unknown question id '{record.question_id}' "
                "(not in the question bank)"
            )
    for loaded in (r for s in sets for r in s.records):
        record = loaded.record
        if record.base_id is None:
            continue
        base = seen.get(record.base_id)
        if base is None:
            raise EvalSetError(f"{loaded.where}: field 'base_id': no answer has id '{record.base_id}'")
        if base.record.question_id != record.question_id:
            raise EvalSetError(
                f"{loaded.where}: field 'base_id': '{record.base_id}' answers another question "
                f"({base.record.question_id})"
            )


def resolve_set_paths(names: Sequence[str], sets_dir: Path = SETS_DIR) -> list[Path]:
    """Set names (file stems in evals/sets/, globs like team-*) or paths; none means every team-* set."""
    if not names:
        found = sorted(p for p in sets_dir.glob(DEFAULT_PATTERN) if p.suffix in SET_SUFFIXES)
        if not found:
            raise EvalSetError(f"{sets_dir}: no eval sets named {DEFAULT_PATTERN}{'/'.join(SET_SUFFIXES)}")
        return found
    paths: list[Path] = []
    for name in names:
        candidate = Path(name)
        if candidate.suffix in SET_SUFFIXES and candidate.is_file():
            paths.append(candidate)
            continue
        matches = sorted(p for p in sets_dir.glob(name) if p.suffix in SET_SUFFIXES)
        matches = matches or [sets_dir / f"{name}{s}" for s in SET_SUFFIXES if (sets_dir / f"{name}{s}").is_file()]
        if not matches:
            available = sorted(p.stem for p in sets_dir.glob("*") if p.suffix in SET_SUFFIXES)
            raise EvalSetError(
                f"unknown eval set '{name}': no such file, and nothing matches in {sets_dir}"
                + (f" (available: {', '.join(available)})" if available else "")
            )
        paths.extend(matches)
    return list(dict.fromkeys(paths))


def load_sets(names: Sequence[str], question_ids: Iterable[str], sets_dir: Path = SETS_DIR) -> list[EvalSet]:
    sets = [load_set_file(path) for path in resolve_set_paths(names, sets_dir)]
    validate_sets(sets, question_ids)
    return sets
