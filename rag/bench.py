"""`python -m rag.bench`: retrieval quality, ingest time and query/grading latency, measured on this machine."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rag.settings import Settings, get_settings


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
    """Warm offline-grading latency (retrieval included) for a 250-word answer (model answer padded with its own
    sentences), after one grading per question has encoded its key points."""
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag.bench",
        description="Benchmarks on this machine: recall@1/@3 of each question's sources with the question as the "
        "query, cold and warm ingest time, p50/p95 query latency, and warm offline-grading latency.",
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the question bank (default 3)")
    parser.add_argument("--skip-grading", action="store_true", help="only the retrieval benchmark")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    settings = get_settings()
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
