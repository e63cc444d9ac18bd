"""Key points derived from a reference answer, for questions that come without any (e.g. SciEntsBank).

A reference may hold several alternative answers joined by " || ". Each alternative becomes its own
list of key points; the grader scores the answer against each and keeps the best grade, because the
candidate needs to match one acceptable answer, not all of them at once.
"""

from __future__ import annotations

import re

from rag.grading.clauses import Span, split_clauses, split_sentences
from rag.grading.text import analyse
from rag.questions import KeyPoint, Question

ALTERNATIVE_SEPARATOR = "||"
MAX_KEY_POINTS = 7
MIN_CONTENT_WORDS = 2


def split_alternatives(reference: str) -> list[str]:
    """The alternative reference answers, in order, without blanks or exact repeats."""
    parts = [p.strip() for p in reference.split(ALTERNATIVE_SEPARATOR)]
    return list(dict.fromkeys(p for p in parts if p))


def _key_point_id(index: int) -> str:
    return f"kp-{index + 1}"


def _merge_small(spans: list[Span], text: str) -> list[str]:
    """Pieces with fewer than MIN_CONTENT_WORDS content words join the previous piece (or the next one)."""
    pieces: list[str] = []
    pending = ""
    for span in spans:
        piece = (pending + " " + span.text).strip() if pending else span.text
        pending = ""
        if len(analyse(piece).stems) < MIN_CONTENT_WORDS:
            if pieces:
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pending = piece
            continue
        pieces.append(piece)
    if pending:
        pieces.append(pending)
    return pieces or [text.strip()]


def derive_key_points(reference: str, granularity: str = "sentence") -> list[KeyPoint]:
    """Atomic key points of one reference answer, equally weighted.

    `granularity` is "sentence" (one point per sentence), "clause" (sentences cut further at
    "but", ", so", dashes...) or "whole" (the reference is one point). Beyond MAX_KEY_POINTS pieces the
    last ones are merged, since the question model holds at most seven key points.
    """
    text = re.sub(r"\s+", " ", reference).strip()
    if not text:
        raise ValueError("the reference answer is empty")
    if granularity == "whole":
        pieces = [text]
    elif granularity == "sentence":
        pieces = _merge_small(split_sentences(text), text)
    elif granularity == "clause":
        pieces = _merge_small(split_clauses(text), text)
    else:
        raise ValueError(f"unknown granularity '{granularity}'; use sentence, clause or whole")
    if len(pieces) > MAX_KEY_POINTS:
        pieces = [*pieces[: MAX_KEY_POINTS - 1], " ".join(pieces[MAX_KEY_POINTS - 1 :])]
    return [KeyPoint(id=_key_point_id(i), text=piece, weight=1) for i, piece in enumerate(pieces)]


def questions_from_reference(
    question_id: str, question_text: str, reference: str, granularity: str = "sentence"
) -> list[Question]:
    """One Question per alternative reference answer, with derived key points and the reference as model answer."""
    alternatives = split_alternatives(reference)
    if not alternatives:
        raise ValueError("the reference answer is empty")
    slug = re.sub(r"[^a-z0-9]+", "-", question_id.lower()).strip("-") or "q"
    return [
        Question(
            id=slug if len(alternatives) == 1 else f"{slug}-alt{i + 1}",
            topic="derived",
            level="associate",
            question=question_text,
            key_points=tuple(derive_key_points(alternative, granularity)),
            model_answer=alternative,
            sources=("reference",),
        )
        for i, alternative in enumerate(alternatives)
    ]
