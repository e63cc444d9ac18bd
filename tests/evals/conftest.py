"""Fixtures for the evals tests: a tiny bank, a tiny team set, and a fake deterministic grader."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from evals.config import BenchmarkRunConfig, TeamRunConfig
from rag.grading.base import build_grade
from rag.grading.result import Grade, KeyPointVerdict, MisconceptionFinding, Verdict
from rag.passage import Passage
from rag.questions import Question
from rag.settings import Settings, get_settings

FIXTURES = Path(__file__).parent / "fixtures"
UNIVERSAL = "right"


class FakeGrader:
    """Covers a key point when its id (or the word 'right') is a word of the answer; flags 'wrongidea'.

    `bonus` adds covered points for answers containing a word, to simulate a changed grader.
    """

    def __init__(self, name: str = "offline", model: str = "fake-1", bonus: str | None = None) -> None:
        self.name = name
        self.model = model
        self.bonus = bonus
        self.calls = 0

    def grade(self, question: Question, answer: str, passages: Sequence[Passage]) -> Grade:
        self.calls += 1
        words = set(re.findall(r"[a-z]+", answer.lower()))
        markers = {UNIVERSAL, self.bonus} & words
        verdicts = [
            KeyPointVerdict(key_point_id=kp.id, text=kp.text, weight=kp.weight,
                            verdict=Verdict.covered if kp.id in words or markers else Verdict.missed)
            for kp in question.key_points
        ]
        findings = [
            MisconceptionFinding(misconception_id=m.id, claim=m.claim, correction=m.correction)
            for m in question.misconceptions if m.id in words
        ]
        return build_grade(question, verdicts, findings, grader=self.name, model=self.model, passages=passages)


@pytest.fixture
def fake_grader() -> FakeGrader:
    return FakeGrader()


@pytest.fixture
def settings() -> Settings:
    return get_settings().model_copy(update={"questions_file": FIXTURES / "bank.yaml"})


def two_passages(question: Question) -> list[Passage]:
    return [
        Passage(section_id=f"{question.id}-{i}", title=f"Passage {i}", topic=question.topic, text=f"text {i}",
                score=1.0 - i / 10)
        for i in range(3)
    ]


def team_config(**overrides) -> TeamRunConfig:
    fields = {
        "kind": "team", "grader": "offline", "model": "fake-1", "repeats": 2,
        "sets": [str(FIXTURES / "team-tiny.jsonl")], "questions_file": str(FIXTURES / "bank.yaml"),
        "passages": "store", "order_check": True, "seed": 13, "concurrency": 1, "cache": False,
    }
    fields.update(overrides)
    return TeamRunConfig(**fields)


def bench_config(path: Path = FIXTURES / "bench.csv", **overrides) -> BenchmarkRunConfig:
    fields = {
        "kind": "benchmark", "grader": "offline", "model": "fake-1", "repeats": 1, "dataset": str(path),
        "splits": None, "limit": None, "threshold": None, "order_check": False, "seed": 13, "concurrency": 1,
        "cache": False,
    }
    fields.update(overrides)
    return BenchmarkRunConfig(**fields)
