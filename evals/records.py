"""What one grading of an eval run records: one line of `progress.jsonl`, and a run of an item in results.json."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.grading.result import Grade

SECONDS_DECIMALS = 4


class GradingRecord(BaseModel):
    """One grading of one item: which repeat and passage order, the grade's outcome, and its cost.

    `status` "error" means the grader raised; its message is in `unscored_reason`. The metrics and reports
    read these records as plain mappings (`model_dump`), so old progress files stay readable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: str
    repeat: int = Field(ge=0)
    variant: str
    status: Literal["scored", "unscored", "error"]
    score: float | None = None
    band: str | None = None
    hash: str | None = None
    """A fingerprint of the grade's stable view: equal hashes are identical grades (consistency)."""
    unscored_reason: str | None = None
    verdicts: dict[str, str] = Field(default_factory=dict)
    """Verdict per key point id."""
    misconceptions: list[str] = Field(default_factory=list)
    injection_signals: list[str] = Field(default_factory=list)
    second_opinion: dict[str, int] | None = None
    seconds: float = Field(ge=0)
    cached: bool = False


def grade_hash(grade: Grade) -> str:
    return hashlib.sha256(json.dumps(grade.stable_view(), sort_keys=True).encode()).hexdigest()[:16]


def grade_record(item_id: str, repeat: int, variant: str, grade: Grade, seconds: float, cached: bool) -> GradingRecord:
    return GradingRecord(
        item_id=item_id,
        repeat=repeat,
        variant=variant,
        status=grade.status,
        score=grade.score,
        band=grade.band,
        hash=grade_hash(grade),
        unscored_reason=grade.unscored_reason,
        verdicts={kp.key_point_id: kp.verdict.value for kp in grade.key_points},
        misconceptions=[m.misconception_id for m in grade.misconceptions],
        injection_signals=grade.injection_signals,
        second_opinion=grade.second_opinion,
        seconds=round(seconds, SECONDS_DECIMALS),
        cached=cached,
    )


def error_record(item_id: str, repeat: int, variant: str, exc: BaseException, seconds: float) -> GradingRecord:
    return GradingRecord(
        item_id=item_id,
        repeat=repeat,
        variant=variant,
        status="error",
        unscored_reason=f"{type(exc).__name__}: {exc}",
        seconds=round(seconds, SECONDS_DECIMALS),
    )


def read_record(line: str) -> dict[str, Any] | None:
    """One progress line as a validated record mapping; None for a line cut short or not a grading record."""
    try:
        return GradingRecord.model_validate_json(line).model_dump()
    except ValueError:
        return None
