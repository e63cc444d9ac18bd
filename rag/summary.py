"""The session summary: scores so far, the key points made most and missed most, and what is due next."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rag.history import SCORED_KINDS, Attempt
from rag.questions import QuestionBank

SUMMARY_EVERY = 5
"""A summary is offered after every this many scored answers in a session."""
POINTS_LISTED = 3
DUE_LISTED = 3
RECENT_LIMIT = 500
"""Attempts read back when summarising one session (a session is far shorter than this)."""


@dataclass(frozen=True)
class DueQuestion:
    question_id: str
    question: str
    due: datetime


@dataclass(frozen=True)
class SessionSummary:
    answers: int
    scores: tuple[float, ...]
    strongest: tuple[str, ...] = ()
    """Key points covered most often this session."""
    weakest: tuple[str, ...] = ()
    """Key points missed or contradicted most often this session."""
    due_next: tuple[DueQuestion, ...] = field(default_factory=tuple)

    @property
    def mean(self) -> float | None:
        return round(sum(self.scores) / len(self.scores), 1) if self.scores else None


def summarise(
    attempts: Sequence[Attempt], bank: QuestionBank, due: dict[str, datetime], since: datetime
) -> SessionSummary:
    """The summary of the scored attempts made at or after `since`, with the soonest-due questions."""
    session = [
        a for a in attempts
        if a.kind in SCORED_KINDS and a.score is not None and datetime.fromisoformat(a.created_at) >= since
    ]  # fmt: skip
    made: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for attempt in session:
        for point in (attempt.grade_dict() or {}).get("key_points", []):
            if point.get("verdict") == "covered":
                made[point["text"]] += 1
            elif point.get("verdict") in ("missed", "contradicted"):
                missed[point["text"]] += 1
    known = {q.id: q for q in bank.questions}
    soonest = sorted((when, qid) for qid, when in due.items() if qid in known)[:DUE_LISTED]
    return SessionSummary(
        answers=len(session),
        scores=tuple(float(a.score) for a in session if a.score is not None),
        strongest=tuple(text for text, _ in made.most_common(POINTS_LISTED)),
        weakest=tuple(text for text, _ in missed.most_common(POINTS_LISTED)),
        due_next=tuple(DueQuestion(qid, known[qid].question, when) for when, qid in soonest),
    )
