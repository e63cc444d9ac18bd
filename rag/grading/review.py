"""The judge reviews the matcher's verdicts: it decides contradictions and misconceptions, and can veto credit.

The bi-encoder matcher (matching.py) finds, for every claim, the units of the answer nearest to it.
The judge (judge.py) then reads whole sentences, never clauses stitched together: for each key point
and each misconception claim, the sentences that hold its nearest units, and for a credited key point
the sentence that holds its evidence. From those readings and the thresholds in offline_params.json
(`review`, chosen by `python -m evals.select_review` on selection data only):

- a credited point whose evidence sentence the judge reads as contradicting it becomes contradicted;
- a credited point whose evidence sentence the judge reads as stating neither (a keyword list, a
  hedge) earns nothing; when that sentence is also the evidence for another point it matches better, a
  lower threshold (`veto_neither_shared`) suffices: a sentence that already states one point is less
  likely, before any reading, to state a second;
- a missed point with a near sentence that contradicts it becomes contradicted;
- a sentence that entails a misconception's claim is a finding, quoting that sentence.

`review` is a pure function of the readings, so the selection tool replays exactly what the grader does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rag.grading.clauses import Span
from rag.grading.judge import CONTRADICTS, ENTAILS, NEITHER
from rag.grading.result import KeyPointVerdict, MisconceptionFinding, Verdict
from rag.questions import Misconception

MAX_SENTENCE_CHARS = 600
"""A sentence longer than this is cut for the judge (which reads 128 tokens at most anyway)."""


class ReviewParams(BaseModel):
    """Thresholds on the judge's probabilities; 1.0 or more turns a rule off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: int = Field(ge=1, le=5, description="Sentences per claim the judge reads, nearest first.")
    veto_contradicts: float = Field(ge=0, le=1.01)
    veto_neither: float = Field(ge=0, le=1.01)
    veto_neither_shared: float = Field(
        default=1.01,
        ge=0,
        le=1.01,
        description="The neither veto for a point whose evidence sentence another point matches better.",
    )
    contradicted: float = Field(ge=0, le=1.01)
    misconception: float = Field(ge=0, le=1.01)
    selected_on: str = ""
    selection: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """The judge's readings of one claim: candidate sentences (nearest first) and, for credited points, the evidence."""

    spans: tuple[Span, ...]
    probabilities: np.ndarray
    """One row (entails, contradicts, neither) per span."""
    evidence: Span | None = None
    evidence_probabilities: np.ndarray | None = None


def review_params_of(match_params: object) -> ReviewParams | None:
    """The review thresholds stored beside the matcher's parameters (`review`); None when none were selected."""
    raw = getattr(match_params, "review", None)
    return ReviewParams.model_validate(raw) if raw else None


def load_review_params() -> ReviewParams | None:
    """The review thresholds in offline_params.json."""
    from rag.grading.match_params import default_params

    return review_params_of(default_params())


def sentence_of_unit(text: str, sentences: Sequence[Span], unit_span: Span) -> Span:
    """The contiguous run of whole sentences that holds the unit, cut at MAX_SENTENCE_CHARS."""
    inside = [s for s in sentences if s.end > unit_span.start and s.start < unit_span.end]
    start = min((s.start for s in inside), default=unit_span.start)
    end = max((s.end for s in inside), default=unit_span.end)
    end = min(end, start + MAX_SENTENCE_CHARS)
    return Span(start, end, text[start:end])


def candidate_sentences(
    text: str, sentences: Sequence[Span], unit_spans: Sequence[Span], cosines: Sequence[float], count: int
) -> list[Span]:
    """The sentences holding the units nearest (by cosine) to a claim, at most `count`, nearest first."""
    chosen: list[Span] = []
    for unit in sorted(range(len(unit_spans)), key=lambda u: (-cosines[u], u)):
        span = sentence_of_unit(text, sentences, unit_spans[unit])
        if all((span.start, span.end) != (c.start, c.end) for c in chosen):
            chosen.append(span)
        if len(chosen) >= count:
            break
    return chosen


def _top(reading: Reading, label: int) -> tuple[float, Span | None]:
    if not reading.spans:
        return 0.0, None
    row = int(np.argmax(reading.probabilities[:, label]))
    return float(reading.probabilities[row, label]), reading.spans[row]


def _same_sentence(span: Span) -> str:
    return " ".join(span.text.split()).lower()


def shared_evidence(verdicts: Sequence[KeyPointVerdict], point_readings: Sequence[Reading]) -> list[bool]:
    """Per point: credited, and its evidence sentence is also the evidence of a credited point that matches
    it better (higher match confidence; on a tie, the earlier point). Sentences are the same when their words
    are, wherever they stand: an answer that repeats a sentence does not make it two."""
    keys = [
        _same_sentence(r.evidence) if v.credited and r.evidence else None
        for v, r in zip(verdicts, point_readings, strict=True)
    ]
    owners: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key is not None and (
            key not in owners or (verdicts[index].confidence or 0.0) > (verdicts[owners[key]].confidence or 0.0)
        ):
            owners[key] = index
    return [key is not None and owners[key] != index for index, key in enumerate(keys)]


def review(
    verdicts: Sequence[KeyPointVerdict],
    findings: Sequence[MisconceptionFinding],
    point_readings: Sequence[Reading],
    misconceptions: Sequence[Misconception],
    misconception_readings: Sequence[Reading],
    params: ReviewParams,
) -> tuple[list[KeyPointVerdict], list[MisconceptionFinding]]:
    """The verdicts and findings after the judge's review (see the module docstring)."""
    reviewed = []
    shared = shared_evidence(verdicts, point_readings)
    for verdict, reading, is_shared in zip(verdicts, point_readings, shared, strict=True):
        veto_neither = min(params.veto_neither, params.veto_neither_shared) if is_shared else params.veto_neither
        if verdict.credited and reading.evidence is not None and reading.evidence_probabilities is not None:
            row = reading.evidence_probabilities
            if row[CONTRADICTS] >= params.veto_contradicts and row[CONTRADICTS] > row[ENTAILS]:
                verdict = verdict.model_copy(
                    update={
                        "verdict": Verdict.contradicted,
                        "evidence": [reading.evidence.text],
                        "credit": None,
                        "confidence": round(float(row[CONTRADICTS]), 2),
                        "note": f"{verdict.note}; judge: the sentence contradicts it ({row[CONTRADICTS]:.2f})",
                    }
                )
            elif row[NEITHER] >= veto_neither and row[NEITHER] > row[ENTAILS]:
                verdict = verdict.model_copy(
                    update={
                        "verdict": Verdict.missed,
                        "evidence": [],
                        "credit": None,
                        "confidence": round(float(row[NEITHER]), 2),
                        "note": f"{verdict.note}; judge: the sentence does not state it ({row[NEITHER]:.2f})"
                        + ("; its sentence is another point's evidence" if is_shared else ""),
                    }
                )
        elif verdict.verdict is Verdict.missed:
            probability, span = _top(reading, CONTRADICTS)
            if span is not None and probability >= params.contradicted:
                verdict = verdict.model_copy(
                    update={
                        "verdict": Verdict.contradicted,
                        "evidence": [span.text],
                        "confidence": round(probability, 2),
                        "note": f"{verdict.note}; judge: a sentence contradicts it ({probability:.2f})",
                    }
                )
        reviewed.append(verdict)
    found = {f.misconception_id for f in findings}
    new_findings = list(findings)
    for misconception, reading in zip(misconceptions, misconception_readings, strict=True):
        if misconception.id in found:
            continue
        probability, span = _top(reading, ENTAILS)
        if span is not None and probability >= params.misconception:
            new_findings.append(
                MisconceptionFinding(
                    misconception_id=misconception.id,
                    claim=misconception.claim,
                    correction=misconception.correction,
                    evidence=[span.text],
                )
            )
    return reviewed, new_findings
