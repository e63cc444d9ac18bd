"""The judge's review of the matcher's verdicts: a pure function of the readings."""

import numpy as np

from rag.grading.clauses import Span, split_sentences
from rag.grading.result import KeyPointVerdict, Verdict
from rag.grading.review import (
    Reading,
    ReviewParams,
    candidate_sentences,
    review,
    sentence_of_unit,
    shared_evidence,
)
from rag.questions import Misconception

PARAMS = ReviewParams(candidates=2, veto_contradicts=0.7, veto_neither=0.8, contradicted=0.8, misconception=0.8)
TEXT = "Security groups are stateless. NACLs are stateful, so return traffic is allowed."


def span(text: str) -> Span:
    start = TEXT.index(text)
    return Span(start, start + len(text), text)


def verdict(kind: Verdict, credit: float | None = None) -> KeyPointVerdict:
    return KeyPointVerdict(
        key_point_id="kp-1",
        text="Security groups are stateful.",
        weight=1,
        verdict=kind,
        evidence=["are stateless"] if kind is not Verdict.missed else [],
        credit=credit,
    )


def reading(rows: list[list[float]], evidence_row: list[float] | None = None) -> Reading:
    first = span("Security groups are stateless.")
    return Reading(
        spans=(first,) * len(rows),
        probabilities=np.array(rows, dtype=float).reshape(len(rows), 3),
        evidence=first if evidence_row else None,
        evidence_probabilities=np.array(evidence_row) if evidence_row else None,
    )


def test_credit_on_a_sentence_the_judge_reads_as_contradicting_becomes_a_contradiction_quoting_the_sentence():
    (out,), _ = review([verdict(Verdict.covered, 0.9)], [], [reading([], [0.1, 0.85, 0.05])], [], [], PARAMS)
    assert out.verdict is Verdict.contradicted
    assert out.evidence == ["Security groups are stateless."]
    assert out.credit is None


def test_credit_on_a_sentence_that_states_neither_is_withdrawn_and_entailed_credit_stays():
    (out,), _ = review([verdict(Verdict.partly, 0.4)], [], [reading([], [0.1, 0.05, 0.85])], [], [], PARAMS)
    assert out.verdict is Verdict.missed and out.evidence == []
    (kept,), _ = review([verdict(Verdict.covered, 0.9)], [], [reading([], [0.6, 0.3, 0.1])], [], [], PARAMS)
    assert kept.verdict is Verdict.covered and kept.credit == 0.9


def point(point_id: str, kind: Verdict, confidence: float) -> KeyPointVerdict:
    return KeyPointVerdict(
        key_point_id=point_id,
        text=point_id,
        weight=1,
        verdict=kind,
        confidence=confidence,
        evidence=["x"] if kind is not Verdict.missed else [],
    )


def test_a_sentence_that_is_the_evidence_of_two_points_belongs_to_the_one_it_matches_best():
    one, two = reading([], [0.1, 0.05, 0.85]), reading([], [0.1, 0.05, 0.85])
    other = Reading((), np.zeros((0, 3)), span("NACLs are stateful, so return traffic is allowed."), np.zeros(3))
    points = [point("a", Verdict.partly, 0.5), point("b", Verdict.covered, 0.9), point("c", Verdict.covered, 0.9)]
    assert shared_evidence(points, [one, two, other]) == [True, False, False]
    tie = [point("a", Verdict.covered, 0.7), point("b", Verdict.covered, 0.7)]
    assert shared_evidence(tie, [one, two]) == [False, True]
    repeated = "Security groups are stateless. " * 2
    copies = [Reading((), np.zeros((0, 3)), Span(at, at + 30, repeated[at : at + 30]), np.zeros(3)) for at in (0, 31)]
    assert shared_evidence(points[1:], copies) == [False, True]
    missed = [point("a", Verdict.missed, 0.9), point("b", Verdict.covered, 0.6)]
    assert shared_evidence(missed, [one, two]) == [False, False]


def test_a_shared_sentence_loses_its_second_point_at_the_lower_neither_threshold_only():
    params = PARAMS.model_copy(update={"veto_neither": 0.9, "veto_neither_shared": 0.8})
    rows = [0.1, 0.05, 0.85]
    points = [point("a", Verdict.covered, 0.9), point("b", Verdict.partly, 0.5)]
    out, _ = review(points, [], [reading([], rows), reading([], rows)], [], [], params)
    assert [v.verdict for v in out] == [Verdict.covered, Verdict.missed]
    assert "another point's evidence" in out[1].note
    alone, _ = review(points[1:], [], [reading([], rows)], [], [], params)
    assert alone[0].verdict is Verdict.partly
    off, _ = review(
        points, [], [reading([], rows), reading([], rows)], [], [], PARAMS.model_copy(update={"veto_neither": 0.9})
    )
    assert [v.verdict for v in off] == [Verdict.covered, Verdict.partly]


def test_a_missed_point_is_contradicted_only_above_the_threshold():
    high = reading([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05]])
    low = reading([[0.2, 0.7, 0.1]])
    assert review([verdict(Verdict.missed)], [], [high], [], [], PARAMS)[0][0].verdict is Verdict.contradicted
    assert review([verdict(Verdict.missed)], [], [low], [], [], PARAMS)[0][0].verdict is Verdict.missed


def test_a_sentence_entailing_a_misconception_claim_is_a_finding_once():
    misconception = Misconception(id="m-1", claim="Security groups are stateless.", correction="They are stateful.")
    claim_reading = reading([[0.9, 0.05, 0.05]])
    _, findings = review([verdict(Verdict.missed)], [], [reading([])], [misconception], [claim_reading], PARAMS)
    assert [f.misconception_id for f in findings] == ["m-1"]
    assert findings[0].evidence == ["Security groups are stateless."]
    _, unchanged = review([verdict(Verdict.missed)], findings, [reading([])], [misconception], [claim_reading], PARAMS)
    assert len(unchanged) == 1


def test_the_judge_reads_whole_sentences_nearest_first_and_bounded():
    sentences = split_sentences(TEXT)
    clause = span("so return traffic is allowed")
    assert sentence_of_unit(TEXT, sentences, clause).text == "NACLs are stateful, so return traffic is allowed."
    units = [span("Security groups are stateless"), clause, span("NACLs are stateful")]
    chosen = candidate_sentences(TEXT, sentences, units, [0.2, 0.9, 0.8], count=2)
    assert [c.text for c in chosen] == [
        "NACLs are stateful, so return traffic is allowed.",
        "Security groups are stateless.",
    ]
    long_text = "word " * 400
    assert len(sentence_of_unit(long_text, split_sentences(long_text), Span(0, 10, long_text[:10])).text) <= 600
