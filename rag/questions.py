"""The question bank: validated pydantic models loaded from YAML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from rag.datafiles import YAML_LOADER
from rag.errors import QuestionBankError

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
HINT_MAX_CHARS = 160
FOLLOW_UP_KEY_POINTS = (2, 4)
"""How many key points a follow-up checks: it is a narrower question than its parent."""
INHERITED = ("topic", "level", "sources")
"""What a follow-up takes from its parent question (the YAML leaves these out)."""
HINT_MAX_LEAKED_SHARE = 1 / 3
"""A hint may use at most this share of the key point's distinctive words (content words the question lacks)."""
_BLANKS = re.compile(r"…|\.\.\.|_{2,}|\[\s*(?:blank|\?)\s*\]", re.IGNORECASE)


class Level(StrEnum):
    associate = "associate"
    professional = "professional"
    architect = "architect"


def distinct_wordings(wordings: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Stripped wordings, refused when one is under 3 words or two repeat (case-insensitive)."""
    short = [w for w in wordings if len(w.split()) < 3]
    if short:
        raise ValueError(f"a paraphrase states {what} in at least 3 words: {short[0]!r}")
    if len({w.strip().lower() for w in wordings}) < len(wordings):
        raise ValueError("paraphrases repeat")
    return tuple(w.strip() for w in wordings)


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
    hint: str | None = Field(
        default=None,
        description=(
            "A nudge toward the fact that does not state it (one sentence). `load_question_bank` requires one on "
            "every key point of the bank; key points derived in code (from reference answers) may leave it out."
        ),
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
        return distinct_wordings(wordings, "the whole point")

    @model_validator(mode="after")
    def _paraphrases_differ_from_the_text(self) -> KeyPoint:
        if self.text.strip().lower() in {w.lower() for w in self.paraphrases}:
            raise ValueError("a paraphrase repeats the key point's text")
        return self

    @model_validator(mode="after")
    def _hint_is_a_nudge(self) -> KeyPoint:
        if self.hint is None:
            return self
        hint = " ".join(self.hint.split())
        problem = ""
        if not hint:
            problem = "is blank"
        elif len(hint) > HINT_MAX_CHARS:
            problem = f"is {len(hint)} characters long; keep it to one sentence of at most {HINT_MAX_CHARS}"
        elif _BLANKS.search(hint):
            problem = "is a fill-in-the-blank mask; ask a question that points toward the fact instead"
        elif _same_wording(hint, self.text) or any(_same_wording(hint, w) for w in self.paraphrases):
            problem = "repeats the key point; it must point toward the fact without stating it"
        if problem:
            raise ValueError(f"key point '{self.id}': the hint {problem}")
        object.__setattr__(self, "hint", hint)
        return self


def _same_wording(left: str, right: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(re.findall(r"\w+", text.lower()))

    return norm(left) == norm(right)


def leaked_words(hint: str, key_point: str, question: str) -> list[str]:
    """The key point's distinctive words the hint uses, as stems: content words of the key point that the
    question does not already use (so naming the services the question is about is fair), numbers included.

    Words are compared as the offline grader compares them (`rag.grading.text.analyse`: abbreviations
    written out, stopwords dropped, American spelling, synonyms, Porter stems).
    """
    from rag.grading.text import analyse

    return sorted((analyse(key_point).stem_set - analyse(question).stem_set) & analyse(hint).stem_set)


def hint_gives_away(hint: str, key_point: str, question: str) -> str | None:
    """Why the hint gives the key point away, or None.

    It does when it states a number the key point states and the question does not, or when it uses
    more than HINT_MAX_LEAKED_SHARE of the key point's distinctive words (`leaked_words`; a single shared
    word is always allowed): that is a restatement or a masked copy, not a nudge.
    """
    from rag.grading.text import analyse

    point, asked, said = analyse(key_point), analyse(question), analyse(hint)
    numbers = sorted((point.numbers - asked.numbers) & said.numbers)
    if numbers:
        return f"states the key point's number {', '.join(map(str, numbers))}"
    distinctive = point.stem_set - asked.stem_set
    leaked = sorted(distinctive & said.stem_set)
    if len(leaked) >= 2 and len(leaked) > HINT_MAX_LEAKED_SHARE * len(distinctive):
        return (
            f"gives the answer away: it uses {len(leaked)} of the key point's {len(distinctive)} words "
            f"the question does not ({', '.join(leaked)}); at most {HINT_MAX_LEAKED_SHARE:.0%} of them may appear"
        )
    return None


class Misconception(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    claim: str = Field(min_length=3, description="The wrong statement as a candidate would say it.")
    correction: str = Field(min_length=3)
    paraphrases: tuple[str, ...] = Field(
        default=(),
        max_length=4,
        description="Other wordings of the same wrong claim (spoken, note-style); any of them is the misconception.",
    )

    @field_validator("paraphrases")
    @classmethod
    def _distinct_wordings(cls, wordings: tuple[str, ...]) -> tuple[str, ...]:
        return distinct_wordings(wordings, "the whole claim")

    @model_validator(mode="after")
    def _paraphrases_differ_from_the_claim(self) -> Misconception:
        if self.claim.strip().lower() in {w.lower() for w in self.paraphrases}:
            raise ValueError("a paraphrase repeats the misconception's claim")
        return self


class Question(BaseModel):
    """A main question, or a follow-up (`parent` set): a question of its own, asked after its parent's answer
    and graded against its own key points. In the YAML a follow-up sits under its parent's `follow_ups` and
    leaves out what it inherits (`INHERITED`); it has no follow-ups of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    topic: str = Field(min_length=1)
    level: Level
    question: str = Field(min_length=1)
    key_points: tuple[KeyPoint, ...] = Field(min_length=1, max_length=7)
    misconceptions: tuple[Misconception, ...] = ()
    model_answer: str = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    follow_ups: tuple[Question, ...] = Field(default=(), max_length=2)
    parent: str | None = Field(default=None, pattern=ID_PATTERN, description="The main question's id, on a follow-up.")

    @model_validator(mode="before")
    @classmethod
    def _follow_ups_inherit(cls, data: object) -> object:
        """Give each follow-up written under this question its parent id, topic, level and sources."""
        if not isinstance(data, dict) or not isinstance(data.get("follow_ups"), list | tuple):
            return data
        follow_ups = []
        for item in data["follow_ups"]:
            if isinstance(item, dict):
                if data.get("parent") is not None:
                    raise ValueError("a follow-up has no follow-ups of its own")
                written = sorted(key for key in (*INHERITED, "parent") if key in item)
                if written:
                    raise ValueError(f"follow-up {item.get('id', '?')!r} inherits {', '.join(written)} from its parent")
                item = {**item, **{key: data[key] for key in INHERITED if key in data}, "parent": data.get("id")}
            elif isinstance(item, str):
                raise ValueError(
                    f"follow-up {item[:40]!r} is plain text; a follow-up is a question with an id, question, "
                    "key_points and model_answer"
                )
            follow_ups.append(item)
        return {**data, "follow_ups": follow_ups}

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

    @model_validator(mode="after")
    def _hints_do_not_give_the_answer_away(self) -> Question:
        for kp in self.key_points:
            if kp.hint is not None and (reason := hint_gives_away(kp.hint, kp.text, self.question)):
                raise ValueError(f"key point '{kp.id}': the hint {reason}")
        return self

    @model_validator(mode="after")
    def _follow_up_shape(self) -> Question:
        if self.parent is None:
            return self
        low, high = FOLLOW_UP_KEY_POINTS
        if not low <= len(self.key_points) <= high:
            raise ValueError(f"a follow-up checks {low} to {high} key points, not {len(self.key_points)}")
        if self.follow_ups:
            raise ValueError("a follow-up has no follow-ups of its own")
        return self

    @property
    def total_weight(self) -> int:
        return sum(kp.weight for kp in self.key_points)

    @property
    def is_follow_up(self) -> bool:
        return self.parent is not None


class QuestionBank(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: tuple[Question, ...] = Field(min_length=1)
    """The main questions, the pool practice draws from; their follow-ups hang off them."""
    _by_id: dict[str, Question] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        by_id: dict[str, Question] = {}
        for question in self.all_questions():
            by_id.setdefault(question.id, question)  # the first wins; `load_question_bank` refuses repeats
        self._by_id = by_id

    def all_questions(self) -> Iterator[Question]:
        """Every main question, each followed by its follow-ups."""
        for question in self.questions:
            yield question
            yield from question.follow_ups

    @property
    def follow_ups(self) -> list[Question]:
        return [fu for question in self.questions for fu in question.follow_ups]

    def get(self, question_id: str) -> Question:
        """A main question or a follow-up, by id."""
        return self._by_id[question_id]

    def main_question(self, question_id: str) -> Question:
        """The main question itself, or a follow-up's parent."""
        question = self.get(question_id)
        return self.get(question.parent) if question.parent else question

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
        raw_follow_ups = raw.get("follow_ups") if isinstance(raw, dict) else None
        if len(loc) >= 2 and loc[0] == "follow_ups" and isinstance(loc[1], int) and isinstance(raw_follow_ups, list):
            fu = raw_follow_ups[loc[1]] if loc[1] < len(raw_follow_ups) else None
            fu_id = fu.get("id") if isinstance(fu, dict) else None
            where = f"follow-up {fu_id or f'#{loc[1] + 1}'} of {where}"
            loc = loc[2:]
    field = ".".join(str(part) for part in loc) or "(question)"
    extra = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{path}: {where}, field '{field}': {first['msg']}{extra}".replace(": , ", ": ")


def load_question_bank(path: Path, section_ids: Iterable[str] | None = None) -> QuestionBank:
    """Load and validate the bank; with `section_ids`, every source must name a known section."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
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
    for question in bank.all_questions():
        what = f"question {question.id}"
        if question.parent:
            what = f"follow-up {question.id} of question {question.parent}"
        if question.id in seen:
            raise QuestionBankError(
                f"{path}: {what}, field 'id': duplicate question id (main questions and follow-ups share one set)"
            )
        seen.add(question.id)
        for kp in question.key_points:
            if kp.hint is None:
                raise QuestionBankError(
                    f"{path}: {what}, field 'key_points': key point '{kp.id}': the hint is missing; "
                    "every key point of the bank needs one"
                )
    if section_ids is not None:
        known = set(section_ids)
        for question in bank.questions:
            for source in question.sources:
                if source not in known:
                    raise QuestionBankError(
                        f"{path}: question {question.id}, field 'sources': '{source}' names no corpus section"
                    )
    return bank
