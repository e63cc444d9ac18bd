"""Checks on the candidate's answer before grading: empty, "I don't know", too long, injection attempts."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.datafiles import SHIPPED_PROMPTS_DIR, load_yaml_mapping, validated
from rag.settings import DEFAULT_MAX_ANSWER_CHARS

GUARD_FILE = "guard.yaml"

_PUNCT = re.compile(r"[^\w\s']+")


@dataclass(frozen=True)
class GuardRules:
    dont_know: frozenset[str]
    injection_patterns: dict[str, re.Pattern[str]]


@dataclass
class PreparedAnswer:
    """The answer as the graders see it, and what the checks found."""

    text: str
    original_chars: int
    kind: str  # "ok" | "empty" | "dont-know"
    truncated: bool = False
    notices: list[str] = field(default_factory=list)
    injection_signals: list[str] = field(default_factory=list)


class _GuardFile(BaseModel):
    """prompts/guard.yaml: "I don't know" phrases and named injection patterns (each a valid regex)."""

    model_config = ConfigDict(extra="forbid")

    dont_know: list[str] = Field(min_length=1)
    injection_patterns: dict[str, str] = Field(min_length=1)

    @field_validator("injection_patterns")
    @classmethod
    def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"injection pattern {name!r} is not a valid regular expression: {exc}") from exc
        return patterns


@lru_cache(maxsize=4)
def load_guard_rules(path: Path = SHIPPED_PROMPTS_DIR / GUARD_FILE) -> GuardRules:
    data = validated(path, load_yaml_mapping(path), _GuardFile.model_validate)
    return GuardRules(
        dont_know=frozenset(_normalise_phrase(p) for p in data.dont_know),
        injection_patterns={
            name: re.compile(pattern, re.IGNORECASE | re.DOTALL) for name, pattern in data.injection_patterns.items()
        },
    )


def _normalise_phrase(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower().replace("’", "'")).split())


def clean_text(text: str) -> str:
    """NFKC-normalised text without control or zero-width characters (used to hide injections)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")


def detect_injection(text: str, rules: GuardRules | None = None) -> list[str]:
    """Names of the injection patterns the text matches (empty when it looks like a plain answer)."""
    rules = rules or load_guard_rules()
    return [name for name, pattern in rules.injection_patterns.items() if pattern.search(text)]


def braced_injections(text: str, rules: GuardRules | None = None) -> list[tuple[int, int]]:
    """(start, end) of every top-level braced object in the text that matches an injection pattern.

    A fake grade in JSON must be dropped whole: sentence splitting cuts it at its colons and commas,
    and the fragments between the flagged ones ("sg-reference": "covered") would still match key
    points. An object left unclosed runs to the end of the text.
    """
    spans = []
    start, depth = None, 0
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, index + 1))
    if depth and start is not None:
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if detect_injection(text[a:b], rules)]


def prepare_answer(
    answer: str | None, max_chars: int = DEFAULT_MAX_ANSWER_CHARS, rules: GuardRules | None = None
) -> PreparedAnswer:
    rules = rules or load_guard_rules()
    raw = answer or ""
    text = clean_text(raw).strip()
    prepared = PreparedAnswer(text=text, original_chars=len(raw), kind="ok")
    if not any(character.isalnum() for character in text):
        # Punctuation, symbols or emoji alone state nothing: graded as no answer, with its hint.
        prepared.kind = "empty"
        return prepared
    if _normalise_phrase(text) in rules.dont_know:
        prepared.kind = "dont-know"
        return prepared
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        prepared.text = text[: cut if cut > max_chars * 0.8 else max_chars]
        prepared.truncated = True
        prepared.notices.append(
            f"Your answer has {len(text):,} characters; only the first {len(prepared.text):,} were graded "
            f"(limit {max_chars:,}). Interview answers work best at 100-400 words."
        )
    prepared.injection_signals = detect_injection(text, rules)
    if prepared.injection_signals:
        prepared.notices.append(
            "Your answer contains text addressed to the grader ("
            + ", ".join(prepared.injection_signals)
            + "). It was treated as part of the answer and earns nothing."
        )
    return prepared
