"""The one scoring function: verdicts and weights in, a 0-10 score, criteria and band out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.grading.result import CriterionScore, KeyPointVerdict, MisconceptionFinding, ReferenceSimilarity, Verdict
from rag.grading.rubric import Band, Rubric, load_rubric


@dataclass(frozen=True)
class Score:
    score: float
    band: Band
    criteria: list[CriterionScore]


def _clamp(value: float, low: float = 0.0, high: float = 10.0) -> float:
    return max(low, min(high, value))


def graded_credit(probability: np.ndarray | float, covered: float, partly: float, rubric: Rubric) -> np.ndarray:
    """Credit for a key point matched with `probability`, inside its verdict's credit range in the rubric.

    Credit rises linearly with the match probability: from the bottom of the 'partly' range at the
    partly threshold to its top at the covered threshold, then on at the same slope through the
    'covered' range until it is full. A step from 'partly' to 'covered' would turn a small difference
    in probability into a jump of half a point's credit, so paraphrases of one answer would score
    apart. Below the partly threshold the credit is 0.
    """
    p = np.asarray(probability, dtype=np.float64)
    part_low, part_high = rubric.verdicts[Verdict.partly.value].bounds
    cover_low, cover_high = rubric.verdicts[Verdict.covered.value].bounds
    stepped = np.where(p >= covered, rubric.credit(Verdict.covered.value), rubric.credit(Verdict.partly.value))
    if covered <= partly or part_high <= part_low:
        return np.where(p >= partly, stepped, 0.0)
    slope = (part_high - part_low) / (covered - partly)
    credit = np.where(
        p >= covered,
        np.minimum(cover_high, cover_low + (p - covered) * slope),
        part_low + (p - partly) * slope,
    )
    return np.where(p >= partly, credit, 0.0)


def compute_score(
    verdicts: Sequence[KeyPointVerdict],
    misconceptions: Sequence[MisconceptionFinding] = (),
    rubric: Rubric | None = None,
    reference_similarity: ReferenceSimilarity | None = None,
) -> Score:
    """Weighted credit of the key points, minus penalties for misconceptions and contradictions.

    A verdict's credit is the rubric's for its verdict, or the grader's graded credit kept inside the
    verdict's credit range (a barely covered point earns a little less than a clearly covered one).
    With `reference_similarity` (derived questions only), that credit makes up its `share` of the
    coverage and the key points the rest; penalties still come off the whole.

    Rounded to one decimal so that equal verdicts always give bit-identical scores.
    """
    rubric = rubric or load_rubric()
    if not verdicts:
        raise ValueError("cannot score an answer against a question with no key points")
    total_weight = sum(v.weight for v in verdicts)
    earned = sum(v.weight * rubric.credit(v.verdict.value, v.credit) for v in verdicts)
    coverage = 10.0 * earned / total_weight
    if reference_similarity is not None:
        share = reference_similarity.share
        coverage = (1.0 - share) * coverage + share * 10.0 * reference_similarity.credit
    contradicted = sum(1 for v in verdicts if v.verdict is Verdict.contradicted)
    penalty = rubric.penalties.misconception * len(misconceptions) + rubric.penalties.contradiction * contradicted
    accuracy = _clamp(10.0 - penalty)
    score = round(_clamp(coverage - penalty), 1)
    criteria = [
        CriterionScore(id=c.id, name=c.name, score=round(coverage if c.id == "coverage" else accuracy, 1))
        for c in rubric.criteria
    ]
    return Score(score=score, band=rubric.band_for(score), criteria=criteria)
