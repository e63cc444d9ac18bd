"""The session summary: scores of this session only, points made and missed most, soonest due questions."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.history import History, utc_now
from rag.questions import QuestionBank
from rag.session import InterviewSession
from rag.summary import SUMMARY_EVERY, summarise
from tests.interview_support import make_question


def grade_json(covered: list[str], missed: list[str]) -> str:
    points = [{"text": t, "verdict": "covered"} for t in covered] + [{"text": t, "verdict": "missed"} for t in missed]
    return json.dumps({"key_points": points})


def record(history: History, question: str, score: float | None, kind: str = "answer", **grade) -> None:
    history.record_attempt("ana", question_id=question, topic="storage", level="associate", kind=kind, score=score,
                           status="scored" if score is not None else "none",
                           grade_json=grade_json(**grade) if grade else None)  # fmt: skip


def test_summary_counts_this_sessions_scored_answers_and_ranks_points(tmp_path: Path):
    history = History(tmp_path / "h.sqlite3")
    bank = QuestionBank(questions=(make_question("a"), make_question("b")))
    record(history, "a", 9.0, covered=["IA fee"], missed=["restore"])
    since = utc_now()
    record(history, "a", 4.0, covered=["IA fee"], missed=["restore", "tiering"])
    record(history, "b", 6.0, covered=["IA fee", "tiering"], missed=["restore"])
    record(history, "b", None, kind="skip")
    due = {"b": since + timedelta(days=2), "a": since + timedelta(hours=1), "gone": since}
    found = summarise(history.attempts_for("ana"), bank, due, since)
    assert found.answers == 2 and found.scores == (4.0, 6.0) and found.mean == 5.0
    assert found.strongest[0] == "IA fee" and found.weakest[0] == "restore"
    assert [d.question_id for d in found.due_next] == ["a", "b"], "soonest first; gone ones left out"


def test_a_summary_joins_the_conversation_after_every_fifth_answer_and_on_demand(tmp_path: Path):
    history = History(tmp_path / "h.sqlite3")
    bank = QuestionBank(questions=tuple(make_question(q, follow_ups=()) for q in "abc"))
    session = InterviewSession("ana", bank, history, rng=random.Random(0), clock=lambda: datetime.now(UTC))
    session.start()
    for _ in range(SUMMARY_EVERY - 1):
        session.dont_know()
        session.next_question()
    assert not [t for t in session.turns if t.kind == "summary"]
    session.dont_know()
    summaries = [t for t in session.turns if t.kind == "summary"]
    assert len(summaries) == 1 and summaries[0].meta["summary"].answers == SUMMARY_EVERY
    assert session.show_summary().answers == SUMMARY_EVERY
