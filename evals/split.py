"""The frozen tuning / test split of the bank's questions (evals/question_split.yaml)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rag.datafiles import load_yaml_mapping

SPLIT_PATH = Path(__file__).resolve().parent / "question_split.yaml"


def placed_in_test(question_id: str) -> bool:
    """The split's rule: a question is a test question when the first byte of sha256(id) is odd."""
    return hashlib.sha256(question_id.encode("utf-8")).digest()[0] % 2 == 1


@dataclass(frozen=True)
class QuestionSplit:
    tuning: frozenset[str]
    test: frozenset[str]

    def part(self, question_id: str) -> str:
        """'tuning' or 'test'; a question not in the file is placed by the rule."""
        if question_id in self.test:
            return "test"
        if question_id in self.tuning:
            return "tuning"
        return "test" if placed_in_test(question_id) else "tuning"


def load_split(path: Path = SPLIT_PATH) -> QuestionSplit:
    data = load_yaml_mapping(path)
    return QuestionSplit(tuning=frozenset(data.get("tuning") or ()), test=frozenset(data.get("test") or ()))
