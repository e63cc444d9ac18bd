"""The grader interface and the grade builders shared by both graders."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from rag.datafiles import SHIPPED_PROMPTS_DIR, load_yaml_mapping, validated
from rag.grading.result import (
    Grade,
    KeyPointVerdict,
    MisconceptionFinding,
    PassageRef,
    ReferenceSimilarity,
    Verdict,
)
from rag.grading.rubric import Rubric, load_rubric
from rag.grading.scoring import compute_score
from rag.passage import Passage
from rag.questions import Question

FEEDBACK_FILE = "feedback.yaml"


@runtime_checkable
class Grader(Protocol):
    """Anything that turns (question, answer, reference passages) into a Grade."""

    name: str
    model: str

    def grade(self, question: Question, answer: str, passages: Sequence[Passage]) -> Grade: ...


class FeedbackTemplates(BaseModel):
    """prompts/feedback.yaml: every template the code fills in, each a non-empty string."""

    model_config = ConfigDict(extra="forbid")

    empty: str = Field(min_length=1)
    dont_know: str = Field(min_length=1)
    off_topic: str = Field(min_length=1)
    band: dict[str, str] = Field(min_length=1)
    misconception: str = Field(min_length=1)
    misconception_unquoted: str = Field(min_length=1)
    contradicted: str = Field(min_length=1)
    contradicted_unquoted: str = Field(min_length=1)
    partly: str = Field(min_length=1)
    missed_intro: str = Field(min_length=1)
    missed_item: str = Field(min_length=1)
    covered_all: str = Field(min_length=1)
    word_list: str = Field(min_length=1)
    not_english: str = Field(min_length=1)


@lru_cache(maxsize=4)
def feedback_templates(path: Path = SHIPPED_PROMPTS_DIR / FEEDBACK_FILE) -> dict:
    """The feedback templates as a mapping, validated (a missing or misspelt template is a ConfigError)."""
    return validated(path, load_yaml_mapping(path), FeedbackTemplates.model_validate).model_dump()


def passage_refs(passages: Sequence[Passage]) -> list[PassageRef]:
    return [PassageRef(section_id=p.section_id, title=p.title, score=p.score, text=p.text) for p in passages]


def _sentence(text: str) -> str:
    """One line of text ending in a full stop (a key point or correction may be written without one)."""
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?" else text + "."


def _quote(evidence: Sequence[str]) -> str | None:
    """The first quote from the answer, on one line and without its closing punctuation; None when none."""
    for quote in evidence:
        said = " ".join(quote.split()).rstrip(" .;,:")
        if said:
            return said
    return None


def _heaviest(verdicts: Sequence[KeyPointVerdict], verdict: Verdict) -> list[KeyPointVerdict]:
    return sorted((v for v in verdicts if v.verdict is verdict), key=lambda v: (-v.weight, v.key_point_id))


def compose_feedback(
    band_id: str,
    verdicts: Sequence[KeyPointVerdict],
    misconceptions: Sequence[MisconceptionFinding],
    rubric: Rubric,
    templates: dict | None = None,
) -> str:
    """Short, actionable feedback from the verdicts, one sentence a line: the band; what the answer got wrong
    (the candidate's words, then the fact); the partly covered points to finish; then the heaviest missed
    points as a list. Only missed points are listed to add: a partly covered one gets its own sentence."""
    templates = templates or feedback_templates()
    lines = [templates["band"][band_id]]
    for finding in misconceptions:
        said = _quote(finding.evidence)
        correction = _sentence(finding.correction)
        if said:
            lines.append(templates["misconception"].format(said=said, correction=correction))
        else:
            lines.append(
                templates["misconception_unquoted"].format(claim=_sentence(finding.claim), correction=correction)
            )
    for verdict in _heaviest(verdicts, Verdict.contradicted):
        said = _quote(verdict.evidence)
        point = _sentence(verdict.text)
        if said:
            lines.append(templates["contradicted"].format(said=said, point=point))
        else:
            lines.append(templates["contradicted_unquoted"].format(point=point))
    limit = rubric.feedback.max_missed_listed
    for verdict in _heaviest(verdicts, Verdict.partly)[:limit]:
        lines.append(templates["partly"].format(point=_sentence(verdict.text)))
    missed = _heaviest(verdicts, Verdict.missed)[:limit]
    if missed:
        lines.append(templates["missed_intro"])
        lines.extend(templates["missed_item"].format(point=_sentence(v.text)) for v in missed)
    elif not misconceptions and all(v.verdict is Verdict.covered for v in verdicts):
        lines.append(templates["covered_all"])
    return "\n".join(lines)


def build_grade(
    question: Question,
    verdicts: Sequence[KeyPointVerdict],
    misconceptions: Sequence[MisconceptionFinding],
    *,
    grader: str,
    model: str,
    passages: Sequence[Passage] = (),
    feedback: str | None = None,
    rubric: Rubric | None = None,
    templates: dict | None = None,
    reference_similarity: ReferenceSimilarity | None = None,
) -> Grade:
    """A scored Grade: the score always comes from `compute_score`, whoever produced the verdicts.

    `rubric` and `templates` (the feedback templates) default to the shipped files."""
    rubric = rubric or load_rubric()
    result = compute_score(verdicts, misconceptions, rubric, reference_similarity)
    return Grade(
        question_id=question.id,
        status="scored",
        score=result.score,
        band=result.band.id,
        band_label=result.band.label,
        criteria=result.criteria,
        key_points=list(verdicts),
        misconceptions=list(misconceptions),
        reference_similarity=reference_similarity,
        feedback=feedback or compose_feedback(result.band.id, verdicts, misconceptions, rubric, templates),
        passages=passage_refs(passages),
        grader=grader,
        model=model,
    )


def all_missed(question: Question, note: str = "") -> list[KeyPointVerdict]:
    return [
        KeyPointVerdict(key_point_id=kp.id, text=kp.text, weight=kp.weight, verdict=Verdict.missed, note=note)
        for kp in question.key_points
    ]


def minimum_grade(
    question: Question,
    kind: str,
    *,
    grader: str,
    model: str,
    passages: Sequence[Passage] = (),
    rubric: Rubric | None = None,
    templates: dict | None = None,
) -> Grade:
    """The lowest score with a helpful message, for empty, "I don't know" and off-topic answers."""
    templates = templates or feedback_templates()
    heaviest = max(question.key_points, key=lambda kp: kp.weight)
    feedback = templates[kind.replace("-", "_")].format(first_point=heaviest.text)
    return build_grade(
        question,
        all_missed(question),
        [],
        grader=grader,
        model=model,
        passages=passages,
        feedback=feedback,
        rubric=rubric,
    )


def unscored_grade(
    question: Question, reason: str, *, grader: str, model: str, passages: Sequence[Passage] = ()
) -> Grade:
    """No score: the grader failed. Never a 0."""
    return Grade(
        question_id=question.id,
        status="unscored",
        unscored_reason=reason,
        feedback=f"This answer could not be graded: {reason}",
        passages=passage_refs(passages),
        grader=grader,
        model=model,
    )
