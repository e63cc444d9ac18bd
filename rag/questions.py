"""The question bank: validated pydantic models loaded from YAML."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rag.errors import QuestionBankError

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the bank 4x faster
ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class Level(StrEnum):
    associate = "associate"
    professional = "professional"
    architect = "architect"


class KeyPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    text: str = Field(min_length=1)
    weight: int = Field(default=1, ge=1, le=3)
    paraphrases: tuple[str, ...] = Field(
        default=(),
        max_length=4,
        description="Other wordings that state the same fact (spoken, note-style), accepted as the point.",
    )

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("paraphrases")
    @classmethod
    def _distinct_wordings(cls, wordings: tuple[str, ...]) -> tuple[str, ...]:
        short = [w for w in wordings if len(w.split()) < 3]
        if short:
            raise ValueError(f"a paraphrase states the whole point in at least 3 words: {short[0]!r}")
        if len({w.strip().lower() for w in wordings}) < len(wordings):
            raise ValueError("paraphrases repeat")
        return tuple(w.strip() for w in wordings)

    @model_validator(mode="after")
    def _paraphrases_differ_from_the_text(self) -> KeyPoint:
        if self.text.strip().lower() in {w.lower() for w in self.paraphrases}:
            raise ValueError("a paraphrase repeats the key point's text")
        return self


class Misconception(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    claim: str = Field(min_length=3, description="The wrong statement as a candidate would say it.")
    correction: str = Field(min_length=3)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    topic: str = Field(min_length=1)
    level: Level
    question: str = Field(min_length=1)
    key_points: tuple[KeyPoint, ...] = Field(min_length=1, max_length=7)
    misconceptions: tuple[Misconception, ...] = ()
    model_answer: str = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    follow_ups: tuple[str, ...] = Field(default=(), max_length=2)

    @field_validator("question", "model_answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @model_validator(mode="after")
    def _unique_point_ids(self) -> Question:
        ids = [kp.id for kp in self.key_points] + [m.id for m in self.misconceptions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"key point / misconception ids repeat: {', '.join(duplicates)}")
        return self

    @property
    def total_weight(self) -> int:
        return sum(kp.weight for kp in self.key_points)


class QuestionBank(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: tuple[Question, ...] = Field(min_length=1)

    def get(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    @property
    def topics(self) -> list[str]:
        return sorted({q.topic for q in self.questions})

    def filter(self, topics: Iterable[str] | None = None, levels: Iterable[str] | None = None) -> list[Question]:
        topic_set = set(topics or [])
        level_set = set(levels or [])
        return [
            q
            for q in self.questions
            if (not topic_set or q.topic in topic_set) and (not level_set or q.level.value in level_set)
        ]


def _describe(exc: ValidationError, raw_questions: list, path: Path) -> str:
    first = exc.errors()[0]
    loc = list(first["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        index = loc[1]
        raw = raw_questions[index] if index < len(raw_questions) else None
        qid = raw.get("id") if isinstance(raw, dict) else None
        where = f"question {qid or f'#{index + 1}'}"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or "(question)"
    extra = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{path}: {where}, field '{field}': {first['msg']}{extra}".replace(": , ", ": ")


def load_question_bank(path: Path, section_ids: Iterable[str] | None = None) -> QuestionBank:
    """Load and validate the bank; with `section_ids`, every source must name a known section."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError as exc:
        raise QuestionBankError(f"{path}: question bank file not found") from exc
    except IsADirectoryError as exc:
        message = f"{path}: is a folder; PREP_QUESTIONS_FILE must name the YAML question bank"
        raise QuestionBankError(message) from exc
    except UnicodeDecodeError as exc:
        message = f"{path}: not a UTF-8 text file (byte {exc.start}); is it the YAML question bank?"
        raise QuestionBankError(message) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise QuestionBankError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("questions"), list):
        raise QuestionBankError(f"{path}: expected a mapping with a 'questions:' list at the top")
    raw_questions = raw["questions"]
    try:
        bank = QuestionBank.model_validate(raw)
    except ValidationError as exc:
        raise QuestionBankError(_describe(exc, raw_questions, path)) from exc
    seen: set[str] = set()
    for question in bank.questions:
        if question.id in seen:
            raise QuestionBankError(f"{path}: question {question.id}, field 'id': duplicate question id")
        seen.add(question.id)
    if section_ids is not None:
        known = set(section_ids)
        for question in bank.questions:
            for source in question.sources:
                if source not in known:
                    raise QuestionBankError(
                        f"{path}: question {question.id}, field 'sources': '{source}' names no corpus section"
                    )
    return bank
