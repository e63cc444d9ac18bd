"""What a run grades and how: the typed configuration the CLI builds once and a run directory keeps.

`config.json` in a run directory holds `RunConfig.as_json()`; `--resume` reads it back with `read_config`, which
also loads files written before this module existed (same field names; keys it does not know are kept).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from evals.benchmark import DEFAULT_GRANULARITY, Granularity
from rag.errors import GradingError
from rag.grading.files import PromptFiles
from rag.settings import get_settings

CONFIG_FILE = "config.json"
TEAM_DEFAULT_REPEATS = {"offline": 2, "llm": 5}
BENCHMARK_DEFAULT_REPEATS = 1
LEADING_FIELDS = ("kind", "grader", "repeats")

GraderName = Literal["offline", "llm"]


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_concurrency(grader: GraderName) -> int:
    """Parallel gradings when none are asked for: the LLM grader waits on the network, so four threads; the
    offline grader computes, so one worker process per usable core (evals.runner.uses_worker_processes)."""
    return 4 if grader == "llm" else usable_cores()


class RunConfig(BaseModel):
    """The fields every run has; `TeamRunConfig` and `BenchmarkRunConfig` add what their kind grades."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    grader: GraderName
    repeats: PositiveInt
    order_check: bool
    seed: int
    concurrency: PositiveInt
    cache: bool = False
    model: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON form, keys in config.json order: kind, grader, repeats, the kind's own fields, the rest."""
        data = self.model_dump(mode="json")
        own = [name for name in type(self).model_fields if name not in RunConfig.model_fields]
        first = [*LEADING_FIELDS, *own]
        return {name: data[name] for name in first} | {k: v for k, v in data.items() if k not in first}


class TeamRunConfig(RunConfig):
    """A run over team eval sets: answers to bank questions, graded with retrieved (or no) passages."""

    kind: Literal["team"] = "team"
    sets: list[str]
    questions_file: Path
    passages: Literal["store", "none"] = "store"


class BenchmarkRunConfig(RunConfig):
    """A run over a benchmark CSV: answers graded against the reference answers of their row."""

    kind: Literal["benchmark"] = "benchmark"
    dataset: Path
    splits: list[str] | None = None
    limit: PositiveInt | None = None
    threshold: float | None = None
    granularity: Granularity = DEFAULT_GRANULARITY


CONFIG_KINDS: dict[str, type[TeamRunConfig] | type[BenchmarkRunConfig]] = {
    "team": TeamRunConfig, "benchmark": BenchmarkRunConfig,
}


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())


def parse_config(data: Any, source: str) -> TeamRunConfig | BenchmarkRunConfig:
    """The typed configuration of `data` (as read from JSON); errors name `source` and every bad field."""
    if not isinstance(data, dict):
        raise GradingError(f"{source}: not a run configuration (expected a JSON object)")
    kind = data.get("kind")
    if kind not in CONFIG_KINDS:
        raise GradingError(f"{source}: unknown run kind {kind!r} (expected one of: {', '.join(CONFIG_KINDS)})")
    try:
        return CONFIG_KINDS[kind].model_validate(data)
    except ValidationError as exc:
        raise GradingError(f"{source}: invalid run configuration: {_problems(exc)}") from exc


def write_config(run_dir: Path, config: RunConfig) -> None:
    (run_dir / CONFIG_FILE).write_text(json.dumps(config.as_json(), indent=2) + "\n", encoding="utf-8")


def read_config(run_dir: Path) -> TeamRunConfig | BenchmarkRunConfig:
    """The configuration saved in `run_dir`; a missing or malformed config.json is a one-line error naming it."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise GradingError(f"{run_dir}: not a run directory (no {CONFIG_FILE}); nothing to resume")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GradingError(f"{path}: not valid JSON ({exc})") from exc
    return parse_config(data, str(path))


def configured_prompt_files() -> PromptFiles:
    """The prompts directory the settings name (`PREP_PROMPTS_DIR`): what the evals tools grade and select with."""
    return PromptFiles.from_settings(get_settings())
