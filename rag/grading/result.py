"""The one result type both graders produce."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    covered = "covered"
    partly = "partly"
    missed = "missed"
    contradicted = "contradicted"


CREDITED = frozenset({Verdict.covered, Verdict.partly})
"""The verdicts that earn a key point credit."""


class KeyPointVerdict(BaseModel):
    """How the answer fares on one key point, with the candidate's own words as evidence."""

    model_config = ConfigDict(frozen=True)

    key_point_id: str
    text: str
    weight: int = Field(ge=1)
    verdict: Verdict
    evidence: list[str] = Field(default_factory=list, description="Quotes from the answer that earn the verdict.")
    confidence: float | None = Field(default=None, ge=0, le=1)
    credit: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Graded credit within the verdict's range in the rubric; None means the verdict's own credit.",
    )
    note: str = ""
    disputed: bool = Field(
        default=False,
        description="The grading model credited this point, but the judge does not read the quoted sentence as "
        "stating it: the point earns no credit and is shown as disputed.",
    )

    @property
    def credited(self) -> bool:
        return self.verdict in CREDITED


class MisconceptionFinding(BaseModel):
    model_config = ConfigDict(frozen=True)

    misconception_id: str
    claim: str
    correction: str
    evidence: list[str] = Field(default_factory=list)


class ReferenceSimilarity(BaseModel):
    """How close the whole answer reads to the reference answer, and the share of coverage it carries.

    Only for questions derived from a reference answer (rag/grading/derive.py), whose key points are
    someone's sentences rather than claims written with their paraphrases (rag/grading/support.py)."""

    model_config = ConfigDict(frozen=True)

    similarity: float = Field(ge=-1, le=1, description="MiniLM cosine of the whole answer and the reference.")
    credit: float = Field(ge=0, le=1, description="The similarity on the 0-1 credit scale.")
    share: float = Field(gt=0, le=1, description="Share of the coverage criterion this credit makes up.")


class CriterionScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    score: float = Field(ge=0, le=10)


class PassageRef(BaseModel):
    """A reference passage the grade relied on."""

    model_config = ConfigDict(frozen=True)

    section_id: str
    title: str
    score: float
    text: str = ""


class Grade(BaseModel):
    """A graded answer. `status == "unscored"` means no score could be given; it is never a 0.

    Built once and not changed afterwards: a later step makes a copy with `model_copy(update=...)`.
    """

    model_config = ConfigDict(frozen=True)

    question_id: str
    status: Literal["scored", "unscored"]
    score: float | None = Field(default=None, ge=0, le=10)
    band: str | None = None
    band_label: str | None = None
    criteria: list[CriterionScore] = Field(default_factory=list)
    key_points: list[KeyPointVerdict] = Field(default_factory=list)
    misconceptions: list[MisconceptionFinding] = Field(default_factory=list)
    reference_similarity: ReferenceSimilarity | None = None
    feedback: str = ""
    unscored_reason: str | None = None
    notices: list[str] = Field(default_factory=list)
    injection_signals: list[str] = Field(default_factory=list)
    second_opinion: dict[str, int] | None = Field(
        default=None,
        description="LLM grades: credited verdicts the judge checked, and how many it did not confirm (recorded only).",
    )
    passages: list[PassageRef] = Field(default_factory=list)
    grader: str
    model: str
    answer_chars: int = 0
    truncated: bool = False
    timings_ms: dict[str, float] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def scored(self) -> bool:
        return self.status == "scored"

    def points_with(self, *verdicts: Verdict) -> list[KeyPointVerdict]:
        """The key points whose verdict is one of `verdicts`, in the question's order."""
        return [kp for kp in self.key_points if kp.verdict in verdicts]

    def covered_points(self) -> list[KeyPointVerdict]:
        return [kp for kp in self.key_points if kp.credited]

    def missed_points(self) -> list[KeyPointVerdict]:
        return [kp for kp in self.key_points if kp.verdict in (Verdict.missed, Verdict.contradicted)]

    def stable_view(self) -> dict:
        """The grade without timings and timestamps: what must be identical across repeated runs."""
        return self.model_dump(mode="json", exclude={"timings_ms", "created_at"})
