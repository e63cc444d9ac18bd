"""Shared pieces of the interview-loop tests: a small bank, a fake grader, a history and settings per test."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from rag.grading.base import build_grade, unscored_grade
from rag.grading.result import KeyPointVerdict, Verdict
from rag.history import History
from rag.questions import Question, QuestionBank
from rag.session import InterviewSession

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def make_follow_up(fid: str, question: str, *points: tuple[str, str, str]) -> dict:
    """A follow-up as the bank writes it: (id, text, hint) per key point; the parent fills in the rest."""
    return {
        "id": fid,
        "question": question,
        "key_points": [{"id": kid, "text": text, "hint": hint, "weight": 2} for kid, text, hint in points],
        "model_answer": f"The model answer to {fid}.",
    }


RESTORE = make_follow_up(
    "restore",
    "How long does a Glacier restore take?",
    ("expedited", "Expedited Glacier restores take minutes.", "Is there a fast, pricier retrieval option?"),
    ("bulk", "Bulk Glacier restores take hours and cost least.", "And the cheapest option: how long?"),
)


COST = make_follow_up(
    "cost",
    "How do you control storage cost?",
    ("budgets", "AWS Budgets alert when spend passes a threshold.", "What tells you spend is running away?"),
    ("lens", "S3 Storage Lens shows usage per bucket and prefix.", "Where do you see usage per bucket?"),
)


def make_question(qid: str, topic: str = "storage", level: str = "associate", follow_ups=(RESTORE,)):
    follow_ups = [{**fu, "id": f"{qid}--{fu['id']}"} for fu in follow_ups]  # follow-up ids are unique in a bank
    return Question(
        id=qid,
        topic=topic,
        level=level,
        question=f"Explain the S3 storage classes ({qid}).",
        key_points=[
            {
                "id": "glacier",
                "text": "Glacier Deep Archive objects must be restored before reading, taking hours.",
                "weight": 3,
                "hint": "Can you GET an archived object straight away, or is there a step first?",
            },
            {
                "id": "ia",
                "text": "Standard-IA charges a per-GB retrieval fee.",
                "weight": 2,
                "hint": "Cheaper storage for rarely read data: where does the cost come back?",
            },
            {
                "id": "tiering",
                "text": "Intelligent-Tiering moves objects between tiers automatically.",
                "weight": 1,
                "hint": "What if you cannot predict how often data will be read?",
            },
        ],
        misconceptions=[{"id": "instant", "claim": "Glacier is instant.", "correction": "Only Instant Retrieval."}],
        model_answer="A model answer.",
        sources=["s3"],
        follow_ups=list(follow_ups),
    )


def verdicts(question: Question, covered: set[str]) -> list[KeyPointVerdict]:
    return [
        KeyPointVerdict(
            key_point_id=kp.id,
            text=kp.text,
            weight=kp.weight,
            verdict=Verdict.covered if kp.id in covered else Verdict.missed,
            evidence=["quoted words"] if kp.id in covered else [],
        )
        for kp in question.key_points
    ]


class FakeGrader:
    """Covers the key points whose id appears in the answer."""

    def __init__(self, name: str = "offline", model: str = "fake", unscored: bool = False, crash: bool = False):
        self.name, self.model, self.unscored, self.crash, self.calls = name, model, unscored, crash, 0

    def grade(self, question, answer, passages):
        self.calls += 1
        if self.crash:
            raise ConnectionError("endpoint down")
        if self.unscored:
            return unscored_grade(question, "the LLM endpoint is down", grader=self.name, model=self.model)
        covered = {kp.id for kp in question.key_points if kp.id in answer}
        return build_grade(question, verdicts(question, covered), [], grader=self.name, model=self.model)


def session_for(history: History, *questions: Question, seed: int = 0, **kwargs) -> InterviewSession:
    bank = QuestionBank(questions=questions or (make_question("a"), make_question("b", topic="networking")))
    return InterviewSession("ana", bank, history, rng=random.Random(seed), clock=lambda: NOW, **kwargs)


class _Store:
    def __init__(self, count: int, problem: str | None = None):
        self._count = count
        self._problem = problem

    def count(self) -> int:
        return self._count

    def completeness_problem(self) -> str | None:
        return self._problem
