"""The offline grader: the bi-encoder picks candidate spans, the judge reads them, no LLM, deterministic.

For each key point the matcher (rag/grading/matching.py) ranks the answer's units (clauses, adjacent
clause pairs, the whole short answer) by how likely they state it; the judge (rag/grading/judge.py)
reads the best few and says whether each entails the point, contradicts it, or neither. The verdict
thresholds are in offline_params.json (`judge`); the score always comes from `compute_score` via
`build_grade`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import ConfigError
from rag.grading.base import build_grade, minimum_grade
from rag.grading.guard import braced_injections, detect_injection
from rag.grading.judge import CONTRADICTS, ENTAILS, Judge, get_judge
from rag.grading.matching import AnswerView, JudgeParams, Matcher, MatchParams
from rag.grading.result import Grade, KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.rubric import Rubric, default_rubric
from rag.grading.text import split_clauses, split_sentences
from rag.questions import KeyPoint, Question
from rag.retrieval import Passage

CONFIDENCE_DECIMALS = 2
CREDIT_DECIMALS = 3
MAX_SPAN_CHARS = 400
"""The judge reads at most this much of a unit (cut at a word); longer units are rare run-on sentences."""


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


@dataclass(frozen=True)
class Reading:
    """The judge's reading of one claim on its candidate units (the bi-encoder's best few)."""

    units: tuple[int, ...]
    match: tuple[float, ...]
    """The bi-encoder's probability that the unit states the claim (any of its wordings)."""
    entails: tuple[float, ...]
    contradicts: tuple[float, ...]

    def coverage(self, weight: float) -> tuple[float, ...]:
        """Per candidate: `weight * P(entails) + (1 - weight) * match * (1 - P(contradicts))`."""
        return tuple(
            round(weight * e + (1 - weight) * m * (1 - c), 4)
            for m, e, c in zip(self.match, self.entails, self.contradicts, strict=True)
        )

    def best(self, weight: float) -> int | None:
        """The candidate (index into `units`) that covers the claim best: highest coverage, then earliest."""
        coverage = self.coverage(weight)
        return max(range(len(self.units)), key=lambda i: (coverage[i], -self.units[i]), default=None)

    def worst(self) -> int | None:
        """The candidate that contradicts the claim most."""
        return max(range(len(self.units)), key=lambda i: (self.contradicts[i], -self.units[i]), default=None)


@dataclass(frozen=True)
class PointCall:
    """A key point's verdict as the judge's reading and the thresholds decide it."""

    verdict: Verdict
    candidate: int | None
    """Index into the reading's units of the evidence, or None for a missed point."""
    coverage: float
    contradiction: float
    credit: float | None


def call_point(reading: Reading, params: JudgeParams, rubric: Rubric) -> PointCall:
    """Contradicted when a unit states the point's opposite; else covered / partly / missed by coverage.

    A contradiction wins over coverage elsewhere: an answer that says both a fact and its opposite
    has not shown it knows which is true.
    """
    best, worst = reading.best(params.weight), reading.worst()
    coverage = reading.coverage(params.weight)[best] if best is not None else 0.0
    contradiction = reading.contradicts[worst] if worst is not None else 0.0
    if worst is not None and contradiction >= params.contradicted:
        return PointCall(Verdict.contradicted, worst, coverage, contradiction, None)
    if best is not None and coverage >= params.partly:
        verdict = Verdict.covered if coverage >= params.covered else Verdict.partly
        credit = round(float(graded_credit(coverage, params.covered, params.partly, rubric)), CREDIT_DECIMALS)
        return PointCall(verdict, best, coverage, contradiction, credit)
    return PointCall(Verdict.missed, None, coverage, contradiction, None)


def stated_misconception(reading: Reading, params: JudgeParams) -> int | None:
    """The candidate that states a misconception's claim: entailed at the threshold and not read as denied."""
    stating = [
        i
        for i in range(len(reading.units))
        if reading.entails[i] >= params.misconception and reading.entails[i] > reading.contradicts[i]
    ]
    return max(stating, key=lambda i: (reading.entails[i], -reading.units[i]), default=None)


def is_off_topic(calls: Sequence[PointCall], found_misconception: bool, params: JudgeParams) -> bool:
    """Nothing matches: every point missed, no misconception, and no unit even near any key point."""
    if found_misconception or any(c.verdict is not Verdict.missed for c in calls):
        return False
    return all(c.coverage < params.off_topic and c.contradiction < params.off_topic for c in calls)


def judge_span(text: str, limit: int = MAX_SPAN_CHARS) -> str:
    """A unit's text as the judge reads it: whitespace collapsed, cut at a word boundary past `limit`."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0]


class OfflineGrader:
    """Grades an answer against a question's key points and misconceptions without any network call."""

    name = "offline"
    model = "all-MiniLM-L6-v2+judge"

    def __init__(
        self, matcher: Matcher | None = None, rubric: Rubric | None = None, judge: Judge | None = None
    ) -> None:
        self._matcher = matcher
        self._rubric = rubric
        self._judge = judge

    @property
    def rubric(self) -> Rubric:
        if self._rubric is None:
            self._rubric = default_rubric()
        return self._rubric

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self._matcher = Matcher()
        return self._matcher

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            self._judge = get_judge()
        return self._judge

    @property
    def params(self) -> MatchParams:
        return self.matcher.params

    @property
    def judge_params(self) -> JudgeParams:
        params = self.params.judge
        if params is None:
            raise ConfigError("offline_params.json has no 'judge' section; run `python -m evals.select_judge`")
        return params

    def grade(self, question: Question, answer: str, passages: Sequence[Passage] = ()) -> Grade:
        started = time.perf_counter()
        view = self.matcher.view_answer(self._blank_injections(answer or ""))
        if not view.units:
            return minimum_grade(question, "empty", grader=self.name, model=self.model, passages=passages)
        params = self.judge_params
        readings = self.read(
            question,
            view,
            [(kp.text, (kp.text, *kp.paraphrases)) for kp in question.key_points]
            + [(m.claim, (m.claim,)) for m in question.misconceptions],
        )
        point_readings = readings[: len(question.key_points)]
        calls = [call_point(reading, params, self.rubric) for reading in point_readings]
        verdicts = [
            self._verdict(kp, call, reading, view)
            for kp, call, reading in zip(question.key_points, calls, point_readings, strict=True)
        ]
        findings = []
        for misconception, reading in zip(question.misconceptions, readings[len(question.key_points) :], strict=True):
            stating = stated_misconception(reading, params)
            if stating is not None:
                findings.append(
                    MisconceptionFinding(
                        misconception_id=misconception.id,
                        claim=misconception.claim,
                        correction=misconception.correction,
                        evidence=[view.units[reading.units[stating]].span.text],
                    )
                )
        cut = any(len(" ".join(view.units[u].span.text.split())) > MAX_SPAN_CHARS for r in readings for u in r.units)
        if is_off_topic(calls, bool(findings), params):
            grade = minimum_grade(question, "off-topic", grader=self.name, model=self.model, passages=passages)
        else:
            grade = build_grade(
                question, verdicts, findings, grader=self.name, model=self.model, passages=passages, rubric=self.rubric
            )
        if cut:
            grade.notices.append(
                f"A very long sentence was read only up to its first {MAX_SPAN_CHARS} characters; "
                "shorter sentences grade more reliably."
            )
        grade.timings_ms = {"offline_match": round((time.perf_counter() - started) * 1000, 2)}
        return grade

    # -- steps

    def read(self, question: Question, view: AnswerView, claims: Sequence[tuple[str, Sequence[str]]]) -> list[Reading]:
        """The judge's reading of each (claim, wordings) on the units the bi-encoder ranks best for any wording.

        All wordings are encoded in one batch and all the judge's pairs run in one call: an answer's
        grade is a handful of forward passes however many key points the question has.
        """
        candidates = self.judge_params.candidates
        texts = list(dict.fromkeys(text for claim, wordings in claims for text in (claim, *wordings)))
        question_view, views = self.matcher.view_claims(question.question, texts)
        by_text = dict(zip(texts, views, strict=True))
        chosen: list[tuple[tuple[int, ...], np.ndarray]] = []
        for _, wordings in claims:
            match = np.max(
                np.stack([self.matcher.unit_probabilities(question_view, by_text[w], view) for w in wordings]), axis=0
            )
            order = sorted(range(len(view.units)), key=lambda u: (-float(match[u]), len(view.units[u].clauses), u))
            chosen.append((tuple(order[:candidates]), match))
        pairs = [
            (question.question, claim, judge_span(view.units[u].span.text))
            for (claim, _), (units, _) in zip(claims, chosen, strict=True)
            for u in units
        ]
        rows = iter(self.judge.probabilities(pairs))
        readings = []
        for units, match in chosen:
            judged = [next(rows) for _ in units]
            readings.append(
                Reading(
                    units,
                    tuple(float(match[u]) for u in units),
                    tuple(float(r[ENTAILS]) for r in judged),
                    tuple(float(r[CONTRADICTS]) for r in judged),
                )
            )
        return readings

    @staticmethod
    def _blank_injections(answer: str) -> str:
        """The answer with every sentence or clause addressed to the grader replaced by spaces.

        Such text must earn nothing and also sway nothing: left in, it would shift the contextual
        token vectors of its neighbours. Clauses are checked too because some patterns only match at
        the start of a text ("...; assistant: ..."), and a braced object with a fake grade is blanked
        whole (`braced_injections`). Blanking keeps every offset, so evidence still quotes the
        candidate's own words.
        """
        pieces = [*split_sentences(answer), *split_clauses(answer)]
        spans = [(piece.start, piece.end) for piece in pieces if detect_injection(piece.text)]
        for start, end in [*spans, *braced_injections(answer)]:
            answer = answer[:start] + " " * (end - start) + answer[end:]
        return answer

    @staticmethod
    def _verdict(point: KeyPoint, call: PointCall, reading: Reading, view: AnswerView) -> KeyPointVerdict:
        """The KeyPointVerdict of a call, quoting the one unit the judge read as its evidence."""
        if call.verdict is Verdict.missed:
            confidence = 1.0 - max(call.coverage, call.contradiction)
        else:
            confidence = call.contradiction if call.verdict is Verdict.contradicted else call.coverage
        entails = max(reading.entails, default=0.0)
        return KeyPointVerdict(
            key_point_id=point.id,
            text=point.text,
            weight=point.weight,
            verdict=call.verdict,
            evidence=[view.units[reading.units[call.candidate]].span.text] if call.candidate is not None else [],
            confidence=round(min(1.0, max(0.0, confidence)), CONFIDENCE_DECIMALS),
            credit=call.credit,
            note=f"entails {entails:.2f}, contradicts {call.contradiction:.2f}, coverage {call.coverage:.2f}",
        )
