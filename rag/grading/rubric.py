"""The rubric and prompt templates: data files in prompts/, validated with pydantic (extra fields forbidden)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.datafiles import SHIPPED_PROMPTS_DIR, load_yaml_mapping, validated

RUBRIC_FILE = "rubric.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VerdictRule(_Strict):
    credit: float = Field(ge=0, le=1)
    credit_range: tuple[float, float] | None = Field(
        default=None, description="Graded credit a grader that measures degree may give within this verdict."
    )
    description: str

    @model_validator(mode="after")
    def _credit_in_range(self) -> VerdictRule:
        if self.credit_range is not None:
            low, high = self.credit_range
            if not 0 <= low <= self.credit <= high <= 1:
                raise ValueError(f"credit_range must satisfy 0 <= low <= credit ({self.credit}) <= high <= 1")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        return self.credit_range or (self.credit, self.credit)


class Criterion(_Strict):
    id: str
    name: str
    description: str


class Penalties(_Strict):
    misconception: float = Field(ge=0, le=10)
    contradiction: float = Field(ge=0, le=10)


class Band(_Strict):
    id: str
    label: str
    min: float = Field(ge=0, le=10)
    anchor: str


class Scale(_Strict):
    min: int
    max: int


class FeedbackRules(_Strict):
    max_missed_listed: int = Field(default=3, ge=1)


class Rubric(_Strict):
    version: int
    scale: Scale
    verdicts: dict[str, VerdictRule]
    criteria: tuple[Criterion, ...]
    penalties: Penalties
    bands: tuple[Band, ...] = Field(min_length=1)
    feedback: FeedbackRules = FeedbackRules()

    @model_validator(mode="after")
    def _check(self) -> Rubric:
        required = {"covered", "partly", "missed", "contradicted"}
        if set(self.verdicts) != required:
            raise ValueError(f"verdicts must be exactly {sorted(required)}")
        bounds = [band.min for band in self.bands]
        if bounds != sorted(bounds, reverse=True) or bounds[-1] != self.scale.min:
            raise ValueError("bands must be listed from the highest lower bound down to the scale minimum")
        return self

    def band_for(self, score: float) -> Band:
        for band in self.bands:
            if score >= band.min:
                return band
        return self.bands[-1]

    def credit(self, verdict: str, graded: float | None = None) -> float:
        """The verdict's credit; a grader's graded credit is kept inside the verdict's credit range."""
        rule = self.verdicts[verdict]
        if graded is None:
            return rule.credit
        low, high = rule.bounds
        return min(high, max(low, graded))


class PromptTemplate(_Strict):
    """A chat prompt: a system message and a user message with `{placeholders}`."""

    name: str
    description: str
    system: str
    user: str
    variables: tuple[str, ...]

    @model_validator(mode="after")
    def _variables_used(self) -> PromptTemplate:
        for variable in self.variables:
            if "{" + variable + "}" not in self.user and "{" + variable + "}" not in self.system:
                raise ValueError(f"variable '{variable}' is declared but not used in the template")
        return self

    def render(self, **values: str) -> tuple[str, str]:
        missing = set(self.variables) - values.keys()
        if missing:
            raise KeyError(f"prompt '{self.name}' needs values for {sorted(missing)}")
        system, user = self.system, self.user
        for key, value in values.items():
            system = system.replace("{" + key + "}", value)
            user = user.replace("{" + key + "}", value)
        return system, user


@lru_cache(maxsize=4)
def load_rubric(path: Path = SHIPPED_PROMPTS_DIR / RUBRIC_FILE) -> Rubric:
    return validated(path, load_yaml_mapping(path), Rubric.model_validate)


def load_prompt(name: str, prompts_dir: Path = SHIPPED_PROMPTS_DIR) -> PromptTemplate:
    path = prompts_dir / f"{name}.yaml"
    return validated(path, load_yaml_mapping(path), PromptTemplate.model_validate)
