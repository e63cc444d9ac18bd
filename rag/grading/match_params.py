"""The matcher's parameters: the fitted logistic model and the verdict thresholds (offline_params.json).

CANDIDATE_FEATURES names every feature the matcher can compute, in the column order of its feature rows.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.datafiles import load_yaml_mapping, validated
from rag.grading.wordlists import WordListParams

PARAMS_PATH = Path(__file__).with_name("offline_params.json")

CANDIDATE_FEATURES: tuple[str, ...] = (
    "cos_claim_unit",
    "cos_question_unit",
    "cos_claim_question",
    "token_recall_novel",
    "token_recall_content",
    "stem_recall_novel",
    "stem_recall_all",
    "focus",
    "token_precision",
    "novel_share",
    "token_recall_distinct",
    "token_recall_distinct_sq",
)
"""Every feature the matcher can compute; the params file names the ones the fitted model uses."""


class Thresholds(BaseModel):
    """Probability cut-offs that turn match probabilities into verdicts and findings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    covered: float = Field(ge=0, le=1)
    partly: float = Field(ge=0, le=1)
    contradicted: float = Field(ge=0, le=1, description="Match of a unit that states the claim's opposite.")
    misconception: float = Field(ge=0, le=1)
    misconception_margin: float = Field(
        ge=-1, le=1, description="How much closer (cosine) the unit must be to the misconception than to any key point."
    )
    off_topic: float = Field(ge=0, le=1, description="Below this best match everywhere, the answer is off topic.")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.partly > self.covered:
            raise ValueError("the 'partly' threshold must not exceed the 'covered' threshold")
        return self


class MatchParams(BaseModel):
    """The fitted logistic model and the thresholds, stored in offline_params.json."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: int
    features: tuple[str, ...] = Field(min_length=1)
    weights: tuple[float, ...]
    bias: float
    thresholds: Thresholds
    score_threshold: float = Field(ge=0, le=10, description="Correct iff score >= this (SciEntsBank 2-way).")
    role_swaps: bool = Field(
        default=False, description="A clause that exchanges the claim's agent and patient states its opposite."
    )
    role_swaps_by_clause_place: bool = Field(
        default=False,
        description="A role swap is also read in the terms' clause places (the top of their noun chains).",
    )
    hedged_clauses: bool = Field(
        default=False,
        description="A clause offering a statement with its opposite, or framing it as unknown, asserts nothing.",
    )
    clearer_opposite_wins: bool = Field(
        default=False,
        description="A key point whose opposite the answer states plainly (the unit's clause nearest the point "
        "is flipped) more clearly than any unit states the point is contradicted, not credited for the weaker "
        "match.",
    )
    misconception_paraphrases: bool = Field(
        default=False, description="A misconception is also recognised by its listed paraphrases."
    )
    word_lists: WordListParams | None = Field(
        default=None,
        description="Runs of words with no function word, and lists of single words, state nothing and earn "
        "nothing (rag/grading/wordlists.py); None: they are graded like any text.",
    )

    @model_validator(mode="after")
    def _shapes(self) -> MatchParams:
        unknown = [name for name in self.features if name not in CANDIDATE_FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; refit with `python -m evals.fit_offline`")
        if len(self.weights) != len(self.features):
            raise ValueError("one weight per feature is needed")
        return self

    @property
    def columns(self) -> list[int]:
        return [CANDIDATE_FEATURES.index(name) for name in self.features]


def load_params(path: Path | None = None) -> MatchParams:
    path = path or PARAMS_PATH
    data = load_yaml_mapping(path, "run `python -m evals.fit_offline` to create it")
    return validated(path, data, MatchParams.model_validate)


def save_params_section(name: str, value: dict, path: Path | None = None) -> Path:
    """Replace one section (e.g. `review`) of offline_params.json, keeping the rest as it is."""
    path = path or PARAMS_PATH
    data = json.loads(path.read_text(encoding="utf-8"))
    data[name] = value
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def default_params() -> MatchParams:
    return load_params()
