"""The one scoring function: verdicts and weights in, a 0-10 score, criteria and band out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.grading.result import CriterionScore, KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.rubric import Band, Rubric, default_rubric


@dataclass(frozen=True)
class Score:
    score: float
    band: Band
    criteria: list[CriterionScore]


def _clamp(value: float, low: float = 0.0, high: float = 10.0) -> float:
    return max(low, min(high, value))


def compute_score(
    verdicts: Sequence[KeyPointVerdict],
    misconceptions: Sequence[MisconceptionFinding] = (),
    rubric: Rubric | None = None,
) -> Score:
    """Weighted credit of the key points, minus penalties for misconceptions and contradictions.

    A verdict's credit is the rubric's for its verdict, or the grader's graded credit kept inside the
    verdict's credit range (a barely covered point earns a little less than a clearly covered one).

    Rounded to one decimal so that equal verdicts always give bit-identical scores.
    """
    rubric = rubric or default_rubric()
    if not verdicts:
        raise ValueError("cannot score an answer against a question with no key points")
    total_weight = sum(v.weight for v in verdicts)
    earned = sum(v.weight * rubric.credit(v.verdict.value, v.credit) for v in verdicts)
    coverage = 10.0 * earned / total_weight
    contradicted = sum(1 for v in verdicts if v.verdict is Verdict.contradicted)
    penalty = rubric.penalties.misconception * len(misconceptions) + rubric.penalties.contradiction * contradicted
    accuracy = _clamp(10.0 - penalty)
    score = round(_clamp(coverage - penalty), 1)
    criteria = [
        CriterionScore(id=c.id, name=c.name, score=round(coverage if c.id == "coverage" else accuracy, 1))
        for c in rubric.criteria
    ]
    return Score(score=score, band=rubric.band_for(score), criteria=criteria)
