"""The data the matcher works on and returns.

Evidence units (`build_units`), the encoded views of an answer, claim and question, a clause's polarity
against a claim, per-unit scores and per-claim match results, and `pack_chunks`, which groups an
answer's sentences into the chunks the model reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.grading.clauses import Span
from rag.grading.text import Analysis

WHOLE_ANSWER_MAX_CLAUSES = 4
WHOLE_ANSWER_MAX_SENTENCES = 2
MAX_CHUNK_CHARS = 900
FLIP_MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class Unit:
    """A candidate piece of evidence: one clause, two adjacent clauses, or the whole short answer."""

    span: Span
    clauses: tuple[int, ...]
    within_sentence: bool = True


def sentence_index(sentences: Sequence[Span], span: Span) -> int:
    return next((i for i, s in enumerate(sentences) if s.start <= span.start < s.end), -1)


def build_units(text: str, clauses: Sequence[Span], sentences: Sequence[Span] = ()) -> list[Unit]:
    """Clauses, windows of two adjacent clauses, and the whole answer when it is short.

    Short means three or four clauses in one or two sentences, the shape of a one-line answer. Three
    sentences, or three bullets, are separate statements: read as one unit they would half-match a
    key point that names a bit of each.
    `sentences` tells which windows cross a sentence boundary (misconceptions are not read across one).
    """

    def sentence_of(span: Span) -> int:
        return sentence_index(sentences, span)

    units = [Unit(span, (i,)) for i, span in enumerate(clauses)]
    for i in range(len(clauses) - 1):
        start, end = clauses[i].start, clauses[i + 1].end
        same = sentence_of(clauses[i]) == sentence_of(clauses[i + 1])
        units.append(Unit(Span(start, end, text[start:end]), (i, i + 1), same))
    spanned = len({sentence_of(c) for c in clauses})
    if 2 < len(clauses) <= WHOLE_ANSWER_MAX_CLAUSES and spanned <= WHOLE_ANSWER_MAX_SENTENCES:
        start, end = clauses[0].start, clauses[-1].end
        same = spanned == 1
        units.append(Unit(Span(start, end, text[start:end]), tuple(range(len(clauses))), same))
    return units


@dataclass(frozen=True)
class AnswerView:
    """The answer cut into clauses and units, with each unit's tokens and vector."""

    text: str
    sentences: tuple[Span, ...]
    clauses: tuple[Span, ...]
    clause_analyses: tuple[Analysis, ...]
    clause_sentence: tuple[int, ...]
    """The index of the sentence each clause belongs to."""
    units: tuple[Unit, ...]
    unit_stems: tuple[frozenset[str], ...]
    unit_tokens: tuple[np.ndarray, ...]
    """Per unit: the indices of its rows in `tokens`."""
    unit_content_tokens: tuple[np.ndarray, ...]
    unit_masks: np.ndarray
    """Units x tokens: True where the token lies in the unit (the vectorised form of `unit_tokens`)."""
    segment_starts: np.ndarray
    """The first token of each segment: the tokens cut at every unit's first and last token."""
    unit_segments: np.ndarray
    """Units x segments: True where the segment lies in the unit (every unit is a run of whole segments)."""
    tokens: np.ndarray
    vectors: np.ndarray
    """One L2-normalised vector per unit."""
    hypothetical: tuple[bool, ...] = ()
    """Per clause: its sentence opens with a condition."""
    hedged: tuple[bool, ...] = ()
    """Per clause: it offers a statement with its opposite or frames it as unknown (empty when not read)."""
    memo: dict = field(default_factory=dict, compare=False, repr=False)
    """Per-claim results already computed for this answer (clause polarities, unit scores)."""


@dataclass(frozen=True)
class ClaimView:
    """A key point or misconception claim, with its words split by whether the question already has them."""

    text: str
    stems: frozenset[str]
    novel: frozenset[str]
    parts: tuple[Analysis, ...]
    vector: np.ndarray
    tokens: np.ndarray
    novel_tokens: np.ndarray
    content_tokens: np.ndarray
    distinct_tokens: np.ndarray
    """Novel tokens that also have no near-synonym in the question ("organisational" for "Organizations")."""


@dataclass(frozen=True)
class QuestionView:
    text: str
    stems: frozenset[str]
    vector: np.ndarray


@dataclass(frozen=True)
class Polarity:
    """Antonym swaps plus negation mismatch (`flips`) and how much of the claim part the clause addresses."""

    flips: int
    overlap: float
    shared: int = 0
    """Words the clause and the claim part have in common (antonyms not counted)."""

    @property
    def reversed(self) -> bool:
        return self.flips % 2 == 1 and self.overlap >= FLIP_MIN_OVERLAP


@dataclass(frozen=True)
class UnitScore:
    unit: int
    probability: float
    flipped: bool
    cosine: float
    stating: bool
    """May earn the claim (see `Matcher.stating_mask`)."""


@dataclass(frozen=True)
class ClaimMatch:
    """How the answer relates to one claim.

    `probability`: the best unit that states the claim with the claim's polarity.
    `contradiction`: the best unit that addresses the claim with the opposite polarity.
    `plain_contradiction`: the best unit whose clause nearest the claim is itself flipped (a two-clause
    window is flipped when either clause is, so its probability may come from a clause stating the claim
    beside a contrast); read only with `clearer_opposite_wins`.
    """

    claim_id: str
    probability: float
    contradiction: float
    evidence: tuple[str, ...]
    contradiction_evidence: tuple[str, ...]
    best_unit: int | None
    contradicting_unit: int | None
    unit_scores: tuple[UnitScore, ...] = field(repr=False, default=())
    plain_contradiction: float = 0.0
    plain_contradiction_evidence: tuple[str, ...] = ()


def pack_chunks(text: str, sentences: Sequence[Span], max_chars: int = MAX_CHUNK_CHARS) -> list[Span]:
    """Consecutive sentences packed into spans of at most `max_chars` (a longer sentence stands alone).

    One sequence per chunk keeps padding low and gives tokens their neighbouring sentences as
    context; MAX_CHUNK_CHARS keeps a chunk under MiniLM's 256-token window.
    """
    chunks: list[Span] = []
    for sentence in sentences:
        if chunks and sentence.end - chunks[-1].start <= max_chars:
            start = chunks[-1].start
            chunks[-1] = Span(start, sentence.end, text[start : sentence.end])
        else:
            chunks.append(sentence)
    return chunks
