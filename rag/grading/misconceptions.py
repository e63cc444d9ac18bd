"""Misconceptions an answer states, found by the matcher: the offline grader's rule (rag/grading/offline.py).

A finding costs a correct answer dearly, so a unit states a misconception only when it reads as the claim
and as nothing better: not a key point, not the misconception's correction, not a confused term.
"""

from __future__ import annotations

from rag.grading.matching import Matcher
from rag.grading.result import MisconceptionFinding
from rag.grading.text import analyse, confused_pairs
from rag.grading.views import AnswerView, ClaimView, QuestionView
from rag.questions import Question


def find_misconceptions(
    matcher: Matcher,
    question: Question,
    question_view: QuestionView,
    point_claims: list[tuple[str, ClaimView]],
    misconception_wordings: list[tuple[str, ClaimView, ClaimView]],
    view: AnswerView,
) -> tuple[list[MisconceptionFinding], frozenset[int]]:
    """Misconceptions the answer states, and the units that state them (they earn no key point).

    `misconception_wordings`: (misconception id, one wording of it, its correction) for the claim and each
    paraphrase; a misconception is found once, by the first wording that the answer states.
    Paraphrases are matched only with `misconception_paraphrases` in the matcher's parameters, and the
    `misconception` threshold and `misconception_margin` are the matcher's too.

    A unit within one sentence states a misconception when it matches the claim with the claim's
    polarity, matches neither a key point nor the misconception's correction better, is at least
    `misconception_margin` closer (cosine) to the claim than to every key point it does not
    reverse (any negated shared word counts, however little of the key point the unit repeats:
    "consumers don't need to be idempotent" is no rival reading of "consumers must be
    idempotent"), negates none of the claim's words, and does not swap a commonly confused term
    ("CloudTrail" for "CloudWatch").
    Answers that explain why the misconception is wrong sit near the claim too, but nearer to the
    correction or to a key point. The correction is compared by match probability, not by cosine:
    a claim and its correction share most of their words, so what tells them apart is whether the
    unit has the claim's distinctive words ("deletes a record as soon as it is read") or the
    correction's ("records stay until the retention period ends"), which the probability's token
    recall reads and a whole-unit cosine blurs.
    """
    if not misconception_wordings:
        return [], frozenset()
    thresholds = matcher.params.thresholds
    across_sentences = frozenset(u for u, unit in enumerate(view.units) if not unit.within_sentence)
    point_matches = matcher.match_claims(question_view, point_claims, view)
    matches = matcher.match_claims(
        question_view,
        [(claim_id, claim) for claim_id, claim, _ in misconception_wordings],
        view,
        across_sentences,
    )
    findings, units = [], set()
    by_id = {m.id: m for m in question.misconceptions}
    for (claim_id, claim, correction), match in zip(misconception_wordings, matches, strict=True):
        if match.best_unit is None or match.probability < thresholds.misconception:
            continue
        if any(finding.misconception_id == claim_id for finding in findings):
            continue
        unit = match.best_unit
        kept = [
            pm.unit_scores[unit]
            for (_, point), pm in zip(point_claims, point_matches, strict=True)
            if matcher.polarity(point, view, view.units[unit], heads_only=False).flips % 2 == 0
        ]
        if any(score.probability > match.probability for score in kept):
            continue
        if matcher.unit_probabilities(question_view, correction, view)[unit] > match.probability:
            continue
        rivals = [score.cosine for score in kept]
        if rivals and match.unit_scores[unit].cosine < max(rivals) + thresholds.misconception_margin:
            continue
        if names_other_term(matcher, claim, view, unit) or matcher.flipped(
            claim, view, view.units[unit], heads_only=False
        ):
            continue
        misconception = by_id[claim_id]
        findings.append(
            MisconceptionFinding(
                misconception_id=claim_id,
                claim=misconception.claim,
                correction=misconception.correction,
                evidence=list(match.evidence),
            )
        )
        stated = {i for i, clause in enumerate(view.clauses) if clause.text in match.evidence}
        units.update(u for u, candidate in enumerate(view.units) if stated.intersection(candidate.clauses))
    return findings, frozenset(units)


def names_other_term(matcher: Matcher, claim: ClaimView, view: AnswerView, unit: int) -> bool:
    """The unit, or its sentence before it, names a term confused with one of the claim's ("CloudTrail"
    for "CloudWatch").

    The sentence is read from its start because "it" often stands for a term named earlier in it;
    a term named after the unit ("... so for our own events we'd use SNS") is not what "it" means.
    """
    lexicon = matcher.lexicon
    claim_words = [word for part in claim.parts for word in part.words]
    end = view.units[unit].span.end
    sentences = sorted({view.clause_sentence[i] for i in view.units[unit].clauses})
    return any(
        confused_pairs(
            analyse(view.text[view.sentences[i].start : min(view.sentences[i].end, end)], lexicon).words,
            claim_words,
            lexicon,
        )
        for i in sentences
    )
