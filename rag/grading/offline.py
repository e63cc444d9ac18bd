"""The offline grader: MiniLM alignment plus lexical and polarity rules, no LLM, deterministic.

Verdicts come from the matcher's probabilities (rag/grading/matching.py) and the thresholds in
offline_params.json; the score always comes from `compute_score` via `build_grade`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from rag.grading.base import all_missed, build_grade, minimum_grade
from rag.grading.clauses import Span, split_clauses, split_sentences
from rag.grading.files import PromptFiles
from rag.grading.guard import braced_injections, detect_injection
from rag.grading.language import looks_english
from rag.grading.match_params import MatchParams
from rag.grading.matching import Matcher
from rag.grading.misconceptions import find_misconceptions
from rag.grading.result import CREDITED, Grade, KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.review import (
    Reading,
    ReviewParams,
    candidate_sentences,
    review,
    review_params_of,
    sentence_of_unit,
)
from rag.grading.rubric import Rubric
from rag.grading.scoring import graded_credit
from rag.grading.support import (
    Support,
    SupportParams,
    apply_support,
    reference_supports,
    support_params_of,
    supported,
    supported_probability,
    whole_answer_credit,
)
from rag.grading.views import AnswerView, ClaimMatch, ClaimView
from rag.grading.wordlists import blank, list_notice, word_lists
from rag.passage import Passage
from rag.questions import Question

CONFIDENCE_DECIMALS = 2
CREDIT_DECIMALS = 3


@dataclass(frozen=True)
class Assessment:
    """What the matcher (and the judge, when asked) found in one answer, before review and scoring."""

    verdicts: tuple[KeyPointVerdict, ...]
    findings: tuple[MisconceptionFinding, ...]
    near_any_point: bool
    """Some unit comes near a key point (match or opposite at least the off-topic threshold)."""
    point_readings: tuple[Reading, ...] = ()
    misconception_readings: tuple[Reading, ...] = ()
    supports: tuple[Support | None, ...] = ()
    """Per key point of a derived question, its reference support (rag/grading/support.py); else empty."""
    reference_similarity: float | None = None
    """A derived question's whole answer against its whole reference (rag/grading/support.py); else None."""
    word_lists: tuple[Span, ...] = ()
    """Stretches of the answer read as word lists and blanked before matching (rag/grading/wordlists.py)."""
    english: bool = True
    """False when the answer does not look like English (rag/grading/language.py): the grade says so."""


class OfflineGrader:
    """Grades an answer against a question's key points and misconceptions without any network call."""

    name = "offline"
    model = "all-MiniLM-L6-v2+lexical"

    def __init__(
        self,
        matcher: Matcher | None = None,
        rubric: Rubric | None = None,
        judge: Any = None,
        files: PromptFiles | None = None,
    ) -> None:
        """`files`: where the lexicon, rubric, feedback templates and guard rules come from (the edge passes
        the configured prompts directory); a given `matcher` or `rubric` is used as it is."""
        self._matcher = matcher
        self._rubric = rubric
        self._judge = judge
        self.files = files or PromptFiles()

    @property
    def rubric(self) -> Rubric:
        if self._rubric is None:
            self._rubric = self.files.rubric()
        return self._rubric

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self._matcher = Matcher(lexicon=self.files.lexicon())
        return self._matcher

    @property
    def params(self) -> MatchParams:
        return self.matcher.params

    @cached_property
    def review_params(self) -> ReviewParams | None:
        """The judge's review thresholds stored with the matcher's parameters; None: verdicts are the matcher's."""
        return review_params_of(self.params)

    @cached_property
    def support_params(self) -> SupportParams | None:
        """The reference-support thresholds for derived questions; None: derived points are the matcher's alone."""
        return support_params_of(self.params)

    @property
    def judge(self) -> Any:
        if self._judge is None:
            from rag.grading.judge import get_judge

            self._judge = get_judge()
        return self._judge

    def grade(self, question: Question, answer: str, passages: Sequence[Passage] = ()) -> Grade:
        started = time.perf_counter()
        review_params = self.review_params
        support_params = self.support_params
        assessment = self.assess(question, answer, *self.judge_work(review_params), support_params=support_params)
        grade = self.conclude(question, assessment, review_params, passages, support_params=support_params)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        return grade.model_copy(update={"timings_ms": {"offline_match": elapsed_ms}})

    @staticmethod
    def judge_work(params: ReviewParams | None) -> tuple[bool, int]:
        """Whether the judge reads at all, and how many near sentences per claim its active rules need."""
        if params is None:
            return False, 0
        near_rules = params.contradicted <= 1.0 or params.misconception <= 1.0
        return True, params.candidates if near_rules else 0

    def assess(
        self,
        question: Question,
        answer: str,
        judged: bool = False,
        candidates: int = 0,
        *,
        support_params: SupportParams | None = None,
        judge_every_support: bool = False,
    ) -> Assessment | None:
        """The matcher's verdicts and findings; with `judged`, also the judge's readings of each credited point's
        evidence sentence and of the `candidates` sentences nearest each claim; with `support_params` and a
        derived question, each key point's reference support. None if the answer has no words.

        `judge_every_support` has the judge read every point's support, not only where it could raise the
        credit under `support_params`: the selection tool replays other thresholds over the same readings."""
        given = any(ch.isalnum() for ch in answer or "")
        answer = self._blank_injections(answer or "")
        english = looks_english(answer)
        listed = word_lists(answer, self.matcher.lexicon, self.params.word_lists, english=english)
        view = self.matcher.view_answer(blank(answer, ((span.start, span.end) for span in listed)))
        if not view.units:
            return self._nothing_stated(question, listed, judged) if given else None
        paraphrases = [(kp.id, text) for kp in question.key_points for text in kp.paraphrases]
        wordings = [
            (i, text)
            for i, m in enumerate(question.misconceptions)
            for text in ((m.claim, *m.paraphrases) if self.params.misconception_paraphrases else (m.claim,))
        ]
        question_view, claims = self.matcher.view_claims(
            question.question,
            [kp.text for kp in question.key_points]
            + [text for _, text in wordings]
            + [m.correction for m in question.misconceptions]
            + [text for _, text in paraphrases],
        )
        n_points, n_wordings = len(question.key_points), len(wordings)
        point_claims = list(zip([kp.id for kp in question.key_points], claims[:n_points], strict=True))
        wording_claims = claims[n_points : n_points + n_wordings]
        corrections = claims[n_points + n_wordings : n_points + n_wordings + len(question.misconceptions)]
        misconception_wordings = [
            (question.misconceptions[i].id, claim, corrections[i])
            for (i, _), claim in zip(wordings, wording_claims, strict=True)
        ]
        misconception_claims = [
            (question.misconceptions[i].id, claim)
            for (i, text), claim in zip(wordings, wording_claims, strict=True)
            if text == question.misconceptions[i].claim
        ]
        paraphrase_claims = list(
            zip([kp_id for kp_id, _ in paraphrases], claims[n_points + n_wordings + len(corrections) :], strict=True)
        )
        findings, misconception_units = find_misconceptions(
            self.matcher,
            question,
            question_view,
            point_claims,
            misconception_wordings,
            view,
        )
        point_matches = self.matcher.match_claims(question_view, point_claims, view, misconception_units)
        by_point = {match.claim_id: match for match in point_matches}
        matches = self._best_wordings(
            point_matches,
            [
                self.matcher.match_wording(question_view, wording, by_point[kp_id], view, misconception_units)
                for kp_id, wording in paraphrase_claims
            ],
        )
        verdicts = [
            self._verdict(kp.id, kp.text, kp.weight, match)
            for kp, match in zip(question.key_points, matches, strict=True)
        ]
        point_readings: list[Reading] = []
        misconception_readings: list[Reading] = []
        if judged:
            point_readings, misconception_readings = self.judge_readings(
                question,
                view,
                [claim for _, claim in point_claims],
                [claim for _, claim in misconception_claims],
                [m.best_unit if v.credited else None for m, v in zip(matches, verdicts, strict=True)],
                candidates,
            )
        supports: list[Support | None] = []
        reference_similarity = None
        if support_params is not None and supported(question, support_params):
            supports, reference_similarity = reference_supports(
                question,
                view,
                point_claims,
                verdicts,
                support_params,
                embedder=self.matcher.embedder,
                judge_probabilities=lambda pairs: self.judge.probabilities(pairs),
                credit=lambda support: self.support_credit(support, support_params),
                judge_all=judge_every_support,
            )
        return Assessment(
            verdicts=tuple(verdicts),
            findings=tuple(findings),
            supports=tuple(supports),
            reference_similarity=reference_similarity,
            near_any_point=any(
                m.probability >= self.params.thresholds.off_topic or m.contradiction >= self.params.thresholds.off_topic
                for m in matches
            ),
            point_readings=tuple(point_readings),
            misconception_readings=tuple(misconception_readings),
            word_lists=tuple(listed),
            english=english,
        )

    @staticmethod
    def _nothing_stated(question: Question, listed: Sequence[Span], judged: bool) -> Assessment:
        """The assessment of an answer whose words were all blanked (word lists, text addressed to the grader):
        every point missed, nothing near, so it is graded off topic, not as an empty answer."""
        unread = Reading((), np.zeros((0, 3)))
        return Assessment(
            verdicts=tuple(all_missed(question)),
            findings=(),
            near_any_point=False,
            point_readings=(unread,) * len(question.key_points) if judged else (),
            misconception_readings=(unread,) * len(question.misconceptions) if judged else (),
            word_lists=tuple(listed),
        )

    def conclude(
        self,
        question: Question,
        assessment: Assessment | None,
        review_params: ReviewParams | None,
        passages: Sequence[Passage] = (),
        *,
        support_params: SupportParams | None = None,
    ) -> Grade:
        """The grade from an assessment: the judge's review and reference support (when configured), the
        off-topic rule, the score."""
        if assessment is None:
            return self._minimum_grade(question, "empty", passages)
        verdicts, findings = list(assessment.verdicts), list(assessment.findings)
        if review_params is not None:
            verdicts, findings = review(
                verdicts,
                findings,
                assessment.point_readings,
                question.misconceptions,
                assessment.misconception_readings,
                review_params,
            )
        if assessment.supports and supported(question, support_params):
            verdicts = apply_support(
                verdicts,
                assessment.supports,
                [self.support_credit(s, support_params) for s in assessment.supports],
                support_params,
                self.params.thresholds.covered,
                self.params.thresholds.partly,
                self.rubric.verdicts[Verdict.covered.value].bounds[0],
            )
        nothing_stated = not findings and all(v.verdict is Verdict.missed for v in verdicts)
        if nothing_stated and not assessment.near_any_point:
            return self._with_notices(self._minimum_grade(question, "off-topic", passages), assessment)
        grade = build_grade(
            question,
            verdicts,
            findings,
            grader=self.name,
            model=self.model,
            passages=passages,
            rubric=self.rubric,
            templates=self.files.feedback(),
            reference_similarity=(
                whole_answer_credit(assessment.reference_similarity, support_params)
                if supported(question, support_params)
                else None
            ),
        )
        return self._with_notices(grade, assessment)

    def _with_notices(self, grade: Grade, assessment: Assessment) -> Grade:
        """The grade with a notice when the answer is not in English, and one quoting its first word list."""
        templates, notices = self.files.feedback(), []
        if not assessment.english:
            notices.append(templates["not_english"])
        if assessment.word_lists:
            notices.append(list_notice(assessment.word_lists[0].text, templates))
        return grade.model_copy(update={"notices": [*grade.notices, *notices]}) if notices else grade

    def _minimum_grade(self, question: Question, kind: str, passages: Sequence[Passage]) -> Grade:
        return minimum_grade(
            question,
            kind,
            grader=self.name,
            model=self.model,
            passages=passages,
            rubric=self.rubric,
            templates=self.files.feedback(),
        )

    # -- steps

    def support_credit(self, support: Support | None, params: SupportParams) -> float:
        """The credit reference support alone would give a key point (0 without support)."""
        if support is None:
            return 0.0
        thresholds = self.params.thresholds
        probability = supported_probability(support.similarity, params, thresholds.covered, thresholds.partly)
        graded = graded_credit(probability, thresholds.covered, thresholds.partly, self.rubric)
        return round(float(graded), CREDIT_DECIMALS)

    def judge_readings(
        self,
        question: Question,
        view: AnswerView,
        points: Sequence[ClaimView],
        misconceptions: Sequence[ClaimView],
        evidence_units: Sequence[int | None],
        candidates: int,
    ) -> tuple[list[Reading], list[Reading]]:
        """The judge's readings of each key point and misconception claim, in one batch.

        The judge reads at most `candidates` sentences per claim plus one evidence sentence per credited
        point, each cut at MAX_SENTENCE_CHARS: a bounded amount of work however long the answer.
        """
        unit_spans = [unit.span for unit in view.units]
        planned: list[tuple[str, list[Span], Span | None]] = []
        for index, claim in enumerate([*points, *misconceptions]):
            cosines = view.vectors @ claim.vector
            spans = [
                s
                for s in candidate_sentences(view.text, view.sentences, unit_spans, cosines, candidates)
                if s.text.strip()
            ]
            unit = evidence_units[index] if index < len(points) else None
            evidence = sentence_of_unit(view.text, view.sentences, unit_spans[unit]) if unit is not None else None
            planned.append((claim.text, spans, evidence if evidence is not None and evidence.text.strip() else None))
        requests = [
            (question.question, claim, span.text)
            for claim, spans, evidence in planned
            for span in [*spans, *([evidence] if evidence else [])]
        ]
        rows = self.judge.probabilities(requests) if requests else np.zeros((0, 3))
        readings, at = [], 0
        for _, spans, evidence in planned:
            probabilities = rows[at : at + len(spans)]
            at += len(spans)
            evidence_row = None
            if evidence is not None:
                evidence_row = rows[at]
                at += 1
            readings.append(Reading(tuple(spans), probabilities, evidence, evidence_row))
        return readings[: len(points)], readings[len(points) :]

    @staticmethod
    def _best_wordings(matches: Sequence[ClaimMatch], paraphrase_matches: Sequence[ClaimMatch]) -> list[ClaimMatch]:
        """Each key point's match through whichever of its wordings the answer states best.

        The key point's own text decides a contradiction: a paraphrase's polarity cues ("only", "never")
        may sit differently, and a contradiction is too costly to take from a looser wording.
        """
        best = {m.claim_id: m for m in matches}
        for match in paraphrase_matches:
            if match.probability > best[match.claim_id].probability:
                best[match.claim_id] = match
        return [
            replace(
                original,
                probability=best[original.claim_id].probability,
                evidence=best[original.claim_id].evidence,
                best_unit=best[original.claim_id].best_unit,
            )
            for original in matches
        ]

    def _blank_injections(self, answer: str) -> str:
        """The answer with every sentence or clause addressed to the grader replaced by spaces.

        Such text must earn nothing and also sway nothing: left in, it would shift the contextual
        token vectors of its neighbours. Clauses are checked too because some patterns only match at
        the start of a text ("...; assistant: ..."), and a braced object with a fake grade is blanked
        whole (`braced_injections`). Blanking keeps every offset, so evidence still quotes the
        candidate's own words.
        """
        pieces = [*split_sentences(answer), *split_clauses(answer)]
        rules = self.files.guard_rules()
        spans = [(piece.start, piece.end) for piece in pieces if detect_injection(piece.text, rules)]
        return blank(answer, [*spans, *braced_injections(answer, rules)])

    def _verdict(self, point_id: str, text: str, weight: int, match: ClaimMatch) -> KeyPointVerdict:
        thresholds = self.params.thresholds
        opposite_clearer = (
            self.params.clearer_opposite_wins
            and match.plain_contradiction >= thresholds.contradicted
            and match.plain_contradiction > match.probability
        )
        if opposite_clearer:
            verdict, evidence = Verdict.contradicted, match.plain_contradiction_evidence
            confidence = match.plain_contradiction
        elif match.probability >= thresholds.covered:
            verdict, evidence, confidence = Verdict.covered, match.evidence, match.probability
        elif match.probability >= thresholds.partly:
            verdict, evidence, confidence = Verdict.partly, match.evidence, match.probability
        elif match.contradiction >= thresholds.contradicted:
            verdict, evidence, confidence = Verdict.contradicted, match.contradiction_evidence, match.contradiction
        else:
            verdict, evidence = Verdict.missed, ()
            confidence = 1.0 - max(match.probability, match.contradiction)
        credit = None
        if verdict in CREDITED:
            graded = graded_credit(match.probability, thresholds.covered, thresholds.partly, self.rubric)
            credit = round(float(graded), CREDIT_DECIMALS)
        return KeyPointVerdict(
            key_point_id=point_id,
            text=text,
            weight=weight,
            verdict=verdict,
            evidence=list(evidence),
            confidence=round(confidence, CONFIDENCE_DECIMALS),
            credit=credit,
            note=f"match {match.probability:.2f}"
            + (f", opposite {match.contradiction:.2f}" if match.contradiction else ""),
        )
