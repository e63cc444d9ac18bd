"""`python -m rag.bench`: retrieval quality, ingest time and query/grading latency, measured on this machine;
with `--history-only`, the history's scale-out benchmark on SQLite and on PostgreSQL."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings, get_settings

if TYPE_CHECKING:
    from rag.grading.result import Grade
    from rag.history import History
    from rag.questions import Question

GradeFn = Callable[["Question", str], "Grade"]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def bench_retrieval(settings: Settings, repeats: int) -> dict:
    from rag.corpus import load_corpus
    from rag.embeddings import get_embedder
    from rag.questions import load_question_bank
    from rag.retrieval import search
    from rag.store import VectorStore

    embedder = get_embedder()
    sections = load_corpus(settings.corpus_dir)
    bank = load_question_bank(settings.questions_file, [s.id for s in sections])
    with tempfile.TemporaryDirectory(prefix="prep-bench-") as tmp:
        fresh = settings.model_copy(update={"data_dir": Path(tmp), "chroma_host": None})
        store = VectorStore(fresh, embedder=embedder)
        cold = store.ingest(sections, show_progress=True)
        warm = store.ingest(sections)
        at1 = at3 = 0
        latencies = []
        for question in bank.questions:
            search(store, question.question, k=3)  # the embedder caches the text: time the Chroma path too
        for _ in range(repeats):
            for question in bank.questions:
                query = f"{question.question} "  # a fresh text each round, so the embedding is computed
                started = time.perf_counter()
                passages = search(store, query * (_ + 1), k=3)
                latencies.append((time.perf_counter() - started) * 1000)
                if _ == 0:
                    ids = [p.section_id for p in passages]
                    at1 += ids[:1] and ids[0] in question.sources
                    at3 += bool(set(ids) & set(question.sources))
        n = len(bank.questions)
        return {
            "questions": n,
            "recall_at_1": round(at1 / n, 3),
            "recall_at_3": round(at3 / n, 3),
            "chunks": cold.added,
            "ingest_cold_s": round(cold.seconds, 2),
            "ingest_warm_s": round(warm.seconds, 3),
            "query_p50_ms": round(percentile(latencies, 50), 1),
            "query_p95_ms": round(percentile(latencies, 95), 1),
        }


def bench_grading(settings: Settings, repeats: int) -> dict:
    """Warm offline-grading latency for a 250-word answer (model answer padded with its own sentences), after one
    grading per question has encoded its key points. Retrieval is not included: its latency is measured above."""
    from rag.grading.service import grade_answer, make_grader
    from rag.questions import load_question_bank

    bank = load_question_bank(settings.questions_file)
    grader = make_grader("offline", settings)
    answers = []
    for question in bank.questions:
        words = question.model_answer.split()
        while len(words) < 250:
            words += question.model_answer.split()
        answers.append((question, " ".join(words[:250])))
    for question, answer in answers:
        grade_answer(question, answer, grader, settings=settings)  # warm: each question's claims encoded once
    latencies = []
    for round_ in range(repeats):
        for question, answer in answers:
            text = answer + " " * (round_ + 1)
            started = time.perf_counter()
            grade_answer(question, text + "Also, it depends." * round_, grader, settings=settings)
            latencies.append((time.perf_counter() - started) * 1000)
    return {
        "answers": len(latencies),
        "grade_250_words_p50_ms": round(percentile(latencies, 50), 1),
        "grade_250_words_p95_ms": round(percentile(latencies, 95), 1),
        "grade_mean_ms": round(statistics.fmean(latencies), 1),
    }


def _fixed_grade(question_id: str) -> str:
    """One grade, as the practice session stores it: the benchmark measures storage, not grading."""
    from rag.grading.result import Grade, KeyPointVerdict

    points = [
        KeyPointVerdict(key_point_id=f"kp{i}", text=f"Key point {i}", weight=1, verdict=verdict)
        for i, verdict in enumerate(("covered", "partly", "missed"))
    ]
    grade = Grade(question_id=question_id, status="scored", score=6.5, band="good", key_points=points,
                  feedback="Good start; name the trade-offs.", grader="offline", model="bench")  # fmt: skip
    return grade.model_dump_json()


def _candidate_answer(question: Question, index: int, round_: int, run: str = "") -> str:
    """A candidate's answer: about 120 words of the model answer, each sentence tagged with the run, candidate and
    round, so that no sentence is a cache hit (real candidates do not repeat each other word for word)."""
    text = " ".join(question.model_answer.split()[:120])
    tag = f"(run {run or 'one'}, candidate {index}, try {round_})"
    return " ".join(f"{sentence} {tag}" for sentence in re.split(r"(?<=[.!?])\s+", text) if sentence)


def _candidate_turns(
    history: History,
    index: int,
    questions: list[Question],
    rounds: int,
    turns: list[float],
    writes: list[float],
    grade: GradeFn | None = None,
    run: str = "",
) -> None:
    """One simulated candidate: per round, (with `grade`) grade an answer, store it and its card in one
    transaction, then read what the practice page reads after a grade (level, due cards, topic means, recent
    attempts)."""
    from rag.scheduling import card_updater, rating_for

    user = f"candidate-{index}"
    for round_ in range(rounds):
        question = questions[(index * 7 + round_) % len(questions)]
        answer = _candidate_answer(question, index, round_, run)
        started = time.perf_counter()
        if grade is None:
            grade_json, score, grader = _fixed_grade(question.id), 6.5, "offline"
        else:
            graded = grade(question, answer)
            grade_json, score, grader = graded.model_dump_json(), graded.score, graded.grader
        writing = time.perf_counter()
        history.record_attempt(
            user, question_id=question.id, topic=question.topic, level=question.level.value, kind="answer",
            answer=answer, grade_json=grade_json, grader=grader, model="bench", score=score, status="scored",
            card_update=card_updater(question.id, rating_for(score), datetime.now(UTC)),
        )  # fmt: skip
        written = time.perf_counter()
        history.recent_scores_by_level(user, 5)
        history.cards_for(user)
        history.topic_means(user)
        history.attempts_for(user, limit=5)
        done = time.perf_counter()
        writes.append((written - writing) * 1000)
        turns.append((done - started) * 1000)


def _drive(
    history: History,
    candidates: int,
    rounds: int,
    questions: list[Question],
    grade: GradeFn | None = None,
    run: str = "",
) -> dict:
    turns: list[float] = []
    writes: list[float] = []
    threads = [
        threading.Thread(target=_candidate_turns, args=(history, i, questions, rounds, turns, writes, grade, run))
        for i in range(candidates)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if len(turns) != candidates * rounds:
        raise RuntimeError(f"only {len(turns)} of {candidates * rounds} turns finished; see the errors above")
    return {
        "candidates": candidates,
        "turns": len(turns),
        "seconds": round(seconds, 2),
        "turns_per_s": round(len(turns) / seconds, 1),
        "turn_p50_ms": round(percentile(turns, 50), 1),
        "turn_p95_ms": round(percentile(turns, 95), 1),
        "write_p95_ms": round(percentile(writes, 95), 1),
    }


def bench_history(
    settings: Settings,
    candidates: Sequence[int],
    rounds: int,
    postgres_url: str | None,
    graded_rounds: int = 0,
) -> dict:
    """K concurrent simulated candidates (threads) on one History, on SQLite and on PostgreSQL.

    A turn is one stored answer with its card (one transaction) plus the four progress reads that follow it. With
    `graded_rounds`, a second run per backend grades each answer first, as the app does (retrieval, the offline
    grader with its judge, one grader shared by every candidate as the app's process shares it): how many
    candidates one process serves. The PostgreSQL server is `postgres_url`, or a throwaway local one with the
    default, durable settings.
    """
    import sqlite3

    from rag.history import DB_NAME, History
    from rag.pg_server import TempPostgres
    from rag.questions import load_question_bank

    questions = list(load_question_bank(settings.questions_file).questions)
    grade: GradeFn | None = None
    if graded_rounds:
        from rag.grading.service import grade_answer, make_grader
        from rag.store import VectorStore

        grader = make_grader("offline", settings)
        store = VectorStore(settings)
        if not store.count():
            raise RuntimeError("the graded run retrieves passages: build the index first (`make index`)")

        def grade(question: Question, answer: str) -> Grade:
            return grade_answer(question, answer, grader, store=store, settings=settings)

        for question in questions:  # warm, as a running app is: each question's claims encoded once
            grade(question, question.model_answer)
    results: dict = {
        "what": "K threads, each a candidate: store a graded answer and its card, then read progress; per turn",
        "what_graded": "the same, grading each answer (about 120 words) with the offline grader first",
        "rounds_per_candidate": rounds,
        "cpu_count": os.cpu_count(),
        "sqlite_version": sqlite3.sqlite_version,
    }

    def measure(history: History, backend: str) -> None:
        _drive(history, 1, 2, questions)  # warm: schema migrated, pool filled
        results[backend] = [_drive(history, k, rounds, questions) for k in candidates]
        if grade is not None:
            results[f"{backend}_graded"] = [
                _drive(history, k, graded_rounds, questions, grade, f"{backend}-{k}") for k in candidates
            ]

    with tempfile.TemporaryDirectory(prefix="prep-bench-history-") as tmp:
        history = History(Path(tmp) / DB_NAME)
        measure(history, "sqlite")
        history.close()
    server = None
    try:
        if postgres_url is None:
            server = TempPostgres(durable=True).start()
            postgres_url = server.create_database("bench")
            results["postgresql_server"] = "local throwaway server, default (durable) settings"
        else:
            results["postgresql_server"] = "given by --postgres-url"
        history = History(url=postgres_url)
        measure(history, "postgresql")
        history.close()
    finally:
        if server is not None:
            server.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag.bench",
        description="Benchmarks on this machine: recall@1/@3 of each question's sources with the question as the "
        "query, cold and warm ingest time, p50/p95 query latency, and warm offline-grading latency; with "
        "--history-only, throughput and p95 latency of concurrent candidates on the history, SQLite and PostgreSQL.",
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the question bank (default 3)")
    parser.add_argument("--skip-grading", action="store_true", help="only the retrieval benchmark")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument(
        "--history-only", action="store_true",
        help="only the history scale-out benchmark: concurrent candidates on SQLite and on PostgreSQL",
    )  # fmt: skip
    parser.add_argument("--candidates", default="1,8", help="concurrent candidates to try, comma-separated (1,8)")
    parser.add_argument("--rounds", type=int, default=20, help="answers per candidate in the history bench (20)")
    parser.add_argument(
        "--graded-rounds", type=int, default=5,
        help="graded answers per candidate in the history bench's second run, 0 to skip it (5)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres-url", metavar="URL",
        help="PostgreSQL for the history bench (default: a throwaway local server; needs `make system-deps`)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.history_only:
        candidates = [int(k) for k in args.candidates.split(",") if k.strip()]
        found = bench_history(settings, candidates, args.rounds, args.postgres_url, args.graded_rounds)
        results = {"date": date.today().isoformat(), "history": found}
        print(json.dumps(results["history"], indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0
    results: dict = {"date": date.today().isoformat(), "retrieval": bench_retrieval(settings, args.repeats)}
    print(json.dumps(results["retrieval"], indent=2))
    if not args.skip_grading:
        results["grading"] = bench_grading(settings, args.repeats)
        print(json.dumps(results["grading"], indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
