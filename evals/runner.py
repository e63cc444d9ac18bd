"""Running graders over eval items: tasks, worker processes or a thread pool, a response cache, resumable progress.

One executor, `execute_run`, runs every kind of run; a `RunPlan` built by `team_plan` or `benchmark_plan` says
what the kind grades and how its items become metrics. The run directory's files are described in evals.rundir.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from evals import metrics
from evals.benchmark import build_questions, read_benchmark, reference_passages
from evals.cache import CachedGrader, ResponseCache
from evals.config import BenchmarkRunConfig, RunConfig, TeamRunConfig
from evals.records import GradingRecord, error_record, grade_record
from evals.rundir import (
    PROGRESS_FILE,
    attach_runs,
    finish_run,
    grading_fingerprint,
    load_progress,
    start_run_dir,
    task_key,
)
from evals.sets import load_sets
from evals.split import load_split
from evals.workers import WorkerPool
from rag.errors import GradingError
from rag.grading.base import Grader
from rag.grading.result import Grade
from rag.grading.rubric import Rubric, load_rubric
from rag.grading.service import grade_answer
from rag.passage import Passage
from rag.questions import Question, load_question_bank
from rag.settings import Settings

ABORT_AFTER_ERRORS = 5

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


@dataclass
class LoopStats:
    graded: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    errors: int = 0


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


def grade_task(task: Task, grader: Grader, settings: Settings) -> GradingRecord:
    """One task's record: the best grade over its questions, or an error record if the grader raised."""
    started = time.perf_counter()
    try:
        grade = best_grade([
            grade_answer(question, task.answer, grader, passages=list(task.passages), settings=settings)
            for question in task.questions
        ])
    except Exception as exc:
        return error_record(task.item_id, task.repeat, task.variant, exc, time.perf_counter() - started)
    hit = grader.hit() if isinstance(grader, CachedGrader) else False
    return grade_record(task.item_id, task.repeat, task.variant, grade, time.perf_counter() - started, hit)


def warm_up(task: Task, grader: Grader, settings: Settings) -> None:
    """One untimed grading of the task's first question, so models load before a timed loop; raises what it meets."""
    grade_answer(task.questions[0], task.answer, grader, passages=list(task.passages), settings=settings)


def uses_worker_processes(grader: Grader, concurrency: int) -> bool:
    """The offline grader's gradings are parallel in worker processes: its work is CPU-bound Python and torch,
    and threads share one interpreter lock. Every other grader (the LLM's waits on the network) uses threads."""
    from rag.grading.offline import OfflineGrader

    return concurrency > 1 and type(grader) is OfflineGrader


def _warm_job(task: Task, settings: Settings, grader: Grader, _item: object) -> None:
    warm_up(task, grader, settings)


def _grade_job(settings: Settings, grader: Grader, task: Task) -> GradingRecord:
    return grade_task(task, grader, settings)


def start_worker_processes(grader: Grader, settings: Settings, workers: int, warm: Task | None) -> WorkerPool:
    """`workers` processes, each grading with its own `make_grader(grader.name, settings)`, warmed on `warm`."""
    from rag.grading.service import make_grader

    return WorkerPool(
        partial(make_grader, grader.name, settings), workers, partial(_warm_job, warm, settings) if warm else None
    )


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
    always call the grader. The timed loop excludes the optional untimed warm-up grading. The offline grader
    runs `concurrency` worker processes (`uses_worker_processes`), any other grader as many threads.
    """
    from tqdm import tqdm

    stats = LoopStats()
    if not tasks:
        return stats
    cached = CachedGrader(grader, cache, fingerprint, read=cache_reads) if cache is not None else None
    processes = cached is None and uses_worker_processes(grader, concurrency)
    first = tasks[0]
    warm = Task(first.item_id, 0, "warm-up", first.questions[:1], first.answer, first.passages) if warmup else None
    pool = start_worker_processes(grader, settings, concurrency, warm) if processes else None
    if warm is not None and pool is None:
        warm_up(warm, grader, settings)

    def grade_one(task: Task) -> GradingRecord:
        use = cached if cached is not None and task.repeat == 0 else grader
        if isinstance(use, CachedGrader):
            use.start()
        return grade_task(task, use, settings)

    def finish(record: GradingRecord) -> None:
        """Only the main thread calls this, so the file and the counters need no lock."""
        handle.write(record.model_dump_json() + "\n")
        handle.flush()
        stats.graded += 1
        stats.cache_hits += record.cached
        stats.errors += record.status == "error"
        bar.update(1)
        if stats.errors == stats.graded == ABORT_AFTER_ERRORS:
            raise GradingError(f"the grader failed on the first {ABORT_AFTER_ERRORS} answers: "
                               f"{record.unscored_reason}")

    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(tasks), desc=description, unit="answer", disable=not show_progress,
               mininterval=0.5 if interactive else 15, file=sys.stderr)
    handle = progress_path.open("a", encoding="utf-8")
    started = time.perf_counter()
    try:
        if pool is not None:
            with pool:
                job = partial(_grade_job, settings)
                for future in as_completed([pool.submit(job, task) for task in tasks]):
                    finish(future.result())
        elif concurrency <= 1:
            for task in tasks:
                finish(grade_one(task))
        else:
            executor = ThreadPoolExecutor(max_workers=concurrency)
            try:
                for future in as_completed([executor.submit(grade_one, task) for task in tasks]):
                    finish(future.result())
            finally:
                executor.shutdown(wait=False, cancel_futures=True)
    finally:
        stats.seconds = time.perf_counter() - started
        handle.close()
        bar.close()
    return stats


# ---------------------------------------------------------------- cost


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


# ---------------------------------------------------------------- team sets and benchmarks


Items = list[dict[str, Any]]


@dataclass(frozen=True)
class RunPlan:
    """What one kind of run grades: its configuration, the gradings, and the result rows they belong to.

    `items` are the rows of results.json without their gradings; `score` turns the rows, gradings attached
    under "runs", into the kind's metrics; `extra_metrics` follow the cost block in those metrics.
    """

    config: RunConfig
    description: str
    tasks: list[Task]
    items: Items
    score: Callable[[Items], dict[str, Any]]
    extra_metrics: dict[str, Any] = field(default_factory=dict)


def band_scale(rubric: Rubric) -> tuple[Callable[[float], str], list[str]]:
    return (lambda score: rubric.band_for(score).id), [band.id for band in reversed(rubric.bands)]


def team_plan(config: TeamRunConfig, passages_for: PassagesFor, rubric: Rubric | None = None) -> RunPlan:
    """Every answer of the team sets, graded against its bank question with the passages `passages_for` gives;
    grades are put in bands by `rubric` (default: the shipped one)."""
    bank = load_question_bank(config.questions_file)
    sets = load_sets(config.sets, [q.id for q in bank.questions])
    records = [loaded.record for s in sets for loaded in s.records]
    passages: dict[str, Sequence[Passage]] = {}
    for question_id in dict.fromkeys(r.question_id for r in records):
        passages[question_id] = passages_for(bank.get(question_id))
    tasks = expand_tasks(
        ((r.id, [bank.get(r.question_id)], r.answer, passages[r.question_id]) for r in records),
        config.repeats, config.order_check, config.seed,
    )
    set_of = {loaded.record.id: s.name for s in sets for loaded in s.records}
    split = load_split()
    items = [
        {
            "id": r.id, "set": set_of[r.id], "question_id": r.question_id,
            "topic": bank.get(r.question_id).topic, "tier": r.tier, "kind": r.kind, "group": r.group,
            "base_id": r.base_id, "gold": r.gold_score, "answer": r.answer, "part": split.part(r.question_id),
        }
        for r in records
    ]
    band_of, band_labels = band_scale(rubric or load_rubric())
    return RunPlan(config, "team sets", tasks, items, lambda rows: metrics.team_metrics(rows, band_of, band_labels))


def benchmark_plan(config: BenchmarkRunConfig) -> RunPlan:
    """Every row of a benchmark CSV, graded against questions built from its reference answers; the decision
    threshold is `config.threshold` or fitted on the train split."""
    bench = read_benchmark(config.dataset, config.splits, config.limit)
    questions = build_questions(bench, config.granularity)
    alternatives = {row.id: questions[(row.question_key, row.question, row.references)] for row in bench.rows}
    tasks = expand_tasks(
        ((row.id, alternatives[row.id], row.answer, reference_passages(row.references)) for row in bench.rows),
        config.repeats, config.order_check, config.seed,
    )
    items = [
        {
            "id": row.id, "question_id": row.question_key, "split": row.split, "topic": row.split or "all",
            "gold": row.gold, "label": row.label, "answer": row.answer,
        }
        for row in bench.rows
    ]
    return RunPlan(
        config, bench.name, tasks, items, lambda rows: metrics.benchmark_metrics(rows, config.threshold),
        extra_metrics={"questions": len(questions)},
    )


def execute_run(
    run_dir: Path,
    plan: RunPlan,
    grader: Grader,
    settings: Settings,
    *,
    resume: bool = False,
    cache: ResponseCache | None = None,
    show_progress: bool = True,
    thresholds_path: Path | None = None,
) -> dict[str, Any]:
    """Grade what `plan` holds `repeats` times (skipping what a resumed run has done), write results and reports.

    The saved configuration records the grader's model; repeats never read the response cache.
    """
    started_at = datetime.now(UTC)
    config = plan.config.model_copy(update={"model": grader.model})
    done = start_run_dir(run_dir, config, resume)
    stats = run_tasks(
        [t for t in plan.tasks if t.key not in done], grader, settings=settings,
        progress_path=run_dir / PROGRESS_FILE, concurrency=config.concurrency, cache=cache,
        fingerprint=grading_fingerprint(settings), cache_reads=config.repeats == 1,
        warmup=config.grader == "offline", show_progress=show_progress, description=plan.description,
    )
    items = attach_runs([dict(item) for item in plan.items], load_progress(run_dir / PROGRESS_FILE).values())
    run_metrics = plan.score(items)
    run_metrics["cost"] = cost_metrics(stats, llm_usage(started_at, settings), config.grader)
    run_metrics["cost"]["resumed"] = bool(done)
    run_metrics.update(plan.extra_metrics)
    return finish_run(run_dir, config, items, run_metrics, settings, started_at, thresholds_path)
