"""Sentence and clause splitting for the offline grader, as exact spans of the answer."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from rag.grading.stemming import tokenize


@dataclass(frozen=True)
class Span:
    """A piece of the answer: `text == source[start:end]` always holds."""

    start: int
    end: int
    text: str


_BULLET = re.compile(r"^\s*(?:[-*•·▪‣◦]|\d{1,2}[.)]|[a-z][.)])\s+", re.MULTILINE)
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "cf.", "no.", "fig.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+|;\s*|:\s+(?=\S+(?:\s+\S+){3,})")
_CLAUSE_BREAK = re.compile(
    r",\s+(?:and|but|so|yet|which|whereas|while|although|though|because|since|however|unless|otherwise)\b\s*"
    r"|\s+(?:but|whereas|although|though|however|unless|otherwise)\b,?\s*"
    r"|,\s+(?=(?:then|therefore|thus|meaning|so)\b)"
    r"|\s+so\s+(?!(?:that|much|many|far|long|as|on|forth|called)\b)"
    r"|\s+(?:and|while|because|since|therefore)\s+"
    r"(?=(?:it|they|he|she|the|this|that|these|those|you|we|i|there|each|every|all|its|their|a|an|one|if|when|no)\b)"
    r"|\s+[-–—]\s+",
    re.IGNORECASE,
)
MIN_CLAUSE_WORDS = 3


def _trim(source: str, start: int, end: int) -> Span | None:
    while start < end and (source[start].isspace() or source[start] in ",;:-–—*•·"):
        start += 1
    while end > start and (source[end - 1].isspace() or source[end - 1] in ",;:-–—"):
        end -= 1
    if start >= end or not any(ch.isalnum() for ch in source[start:end]):
        return None
    return Span(start, end, source[start:end])


def _cut(source: str, start: int, end: int, pattern: re.Pattern[str]) -> list[Span]:
    pieces: list[Span] = []
    cursor = start
    for match in pattern.finditer(source, start, end):
        if pattern is _SENTENCE_END and source[max(start, match.start() - 6) : match.start()].lower().endswith(
            _ABBREVIATIONS
        ):
            continue
        piece = _trim(source, cursor, match.start())
        if piece:
            pieces.append(piece)
        cursor = match.end()
    piece = _trim(source, cursor, end)
    if piece:
        pieces.append(piece)
    return pieces


def _merge_short(source: str, spans: list[Span]) -> list[Span]:
    """Glue fragments of fewer than MIN_CLAUSE_WORDS words onto a neighbour, so no clause is a lone word.

    A label before a colon ("API Gateway: routing, throttling") joins what follows it; otherwise a
    fragment joins the piece before it on the same line, else the piece after it on the same line,
    else stays alone (a one-word bullet item is still an item).
    """

    def joined(first: Span, last: Span) -> Span:
        return Span(first.start, last.end, source[first.start : last.end])

    def same_line(first: Span, last: Span) -> bool:
        return "\n" not in source[first.end : last.start]

    merged: list[Span] = []
    carried: Span | None = None
    for index, span in enumerate(spans):
        if carried is not None:
            span, carried = joined(carried, span), None
        following = spans[index + 1] if index + 1 < len(spans) else None
        if len(tokenize(span.text)) >= MIN_CLAUSE_WORDS:
            merged.append(span)
        elif following and same_line(span, following) and source[span.end : span.end + 1] == ":":
            carried = span
        elif merged and same_line(merged[-1], span):
            merged.append(joined(merged.pop(), span))
        elif following and same_line(span, following):
            carried = span
        else:
            merged.append(span)
    return merged


def split_sentences(text: str) -> list[Span]:
    """Sentences, bullet items, lines and semicolon-separated parts, as exact spans of `text`."""
    spans: list[Span] = []
    bullets = [m.start() for m in _BULLET.finditer(text)]
    bounds = sorted({0, *bullets, len(text)})
    for start, end in itertools.pairwise(bounds):
        bullet = _BULLET.match(text, start)
        body_start = bullet.end() if bullet and start in bullets else start
        spans.extend(_cut(text, body_start, end, _SENTENCE_END))
    return _merge_short(text, spans)


def split_clauses(text: str) -> list[Span]:
    """Clauses: sentences further cut at "but", "whereas", ", and", ", so", dashes and similar breaks."""
    clauses: list[Span] = []
    for sentence in split_sentences(text):
        clauses.extend(_merge_short(text, _cut(text, sentence.start, sentence.end, _CLAUSE_BREAK)))
    return clauses
