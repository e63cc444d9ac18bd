"""The concurrent-candidates driver of `python -m rag.bench --history-only`, with a fake grade (our own logic)."""

from __future__ import annotations

from pathlib import Path

from evals.docs import concurrency_section
from rag.bench import _drive
from rag.grading.result import Grade
from rag.history import DB_NAME, History
from rag.questions import Question, load_question_bank
from rag.settings import PROJECT_ROOT

QUESTIONS = list(load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml").questions)[:5]


def test_graded_turns_grade_every_answer_once_and_store_its_score(tmp_path: Path):
    history = History(tmp_path / DB_NAME)
    graded: list[tuple[str, str]] = []

    def grade(question: Question, answer: str) -> Grade:
        graded.append((question.id, answer))
        return Grade(question_id=question.id, status="scored", score=4.0, grader="fake", model="fake")

    try:
        row = _drive(history, 3, 2, QUESTIONS, grade)
        assert (row["candidates"], row["turns"]) == (3, 6)
        assert row["turn_p95_ms"] >= row["turn_p50_ms"] > 0
        assert len(graded) == 6 and len({answer for _, answer in graded}) == 6, "no answer repeats (no cache hits)"
        stored = [a for user in history.users() for a in history.attempts_for(user)]
        assert len(stored) == 6 and {a.score for a in stored} == {4.0} and {a.grader for a in stored} == {"fake"}
        assert len(history.users()) == 3
    finally:
        history.close()


def test_the_generated_docs_show_store_only_and_graded_runs():
    row = {"candidates": 8, "turns": 40, "turns_per_s": 3.2, "turn_p50_ms": 900.0, "turn_p95_ms": 2100.0,
           "write_p95_ms": 30.0}  # fmt: skip
    found = {"date": "2026-12-03", "history": {"what": "w", "what_graded": "g", "cpu_count": 2, "sqlite": [row],
                                               "sqlite_graded": [row], "postgresql_graded": [row]}}  # fmt: skip
    text = "\n".join(concurrency_section(found))
    assert "| sqlite | store only | 8 | 3.200 |" in text and "| sqlite | graded | 8 |" in text
    assert "| postgresql | graded | 8 |" in text and "| postgresql | store only |" not in text
    assert "Not measured" in "\n".join(concurrency_section(None))
