"""Misconception detection (rag/grading/misconceptions.py): its rules, directly and through the offline grader."""

from __future__ import annotations

import pytest

from rag.grading.match_params import default_params
from rag.grading.matching import Matcher
from rag.grading.misconceptions import find_misconceptions, names_other_term
from rag.grading.offline import OfflineGrader
from rag.questions import Misconception, Question

IDEMPOTENCY_ANSWER = (
    "SNS topic for OrderPlaced, fanned out to a queue per service. Lambda event source mappings poll each queue "
    "in batches, and with partial batch responses only failed messages get retried. DLQ after a few receives. "
    "Since SNS and SQS guarantee exactly-once delivery, the consumers don't need to be idempotent, which keeps "
    "the code simple."
)


@pytest.fixture(scope="module")
def sg_question(question_bank) -> Question:
    return question_bank.get("sg-vs-nacl-differences")


def detection_inputs(matcher: Matcher, question: Question, answer: str):
    """What the grader hands `find_misconceptions`: the question's view, key point claims, the misconceptions'
    claims with their corrections (no paraphrases), and the answer's view."""
    points, misconceptions = question.key_points, question.misconceptions
    question_view, claims = matcher.view_claims(
        question.question,
        [kp.text for kp in points] + [m.claim for m in misconceptions] + [m.correction for m in misconceptions],
    )
    n, m = len(points), len(misconceptions)
    point_claims = [(kp.id, claim) for kp, claim in zip(points, claims[:n], strict=True)]
    wordings = [(mc.id, claims[n + i], claims[n + m + i]) for i, mc in enumerate(misconceptions)]
    return question_view, point_claims, wordings, matcher.view_answer(answer)


# ---------------------------------------------------------------------------------------------- the function


def test_without_wordings_nothing_is_found(grader: OfflineGrader, question_bank):
    question = question_bank.get("order-processing-event-driven")
    question_view, point_claims, _, view = detection_inputs(grader.matcher, question, IDEMPOTENCY_ANSWER)
    assert find_misconceptions(grader.matcher, question, question_view, point_claims, [], view) == ([], frozenset())


def test_finds_what_the_grader_finds_and_the_units_that_state_it(grader: OfflineGrader, question_bank):
    question = question_bank.get("order-processing-event-driven")
    question_view, point_claims, wordings, view = detection_inputs(grader.matcher, question, IDEMPOTENCY_ANSWER)
    findings, units = find_misconceptions(grader.matcher, question, question_view, point_claims, wordings, view)
    assert [f.misconception_id for f in findings] == ["no-idempotency"]
    assert findings == list(grader.assess(question, IDEMPOTENCY_ANSWER).findings)
    assert units and units <= frozenset(range(len(view.units)))
    for unit in units:
        assert any(view.clauses[c].text in findings[0].evidence for c in view.units[unit].clauses)


def test_the_matchers_own_thresholds_are_the_ones_applied(grader: OfflineGrader, embedder, question_bank):
    question = question_bank.get("order-processing-event-driven")
    inputs = detection_inputs(grader.matcher, question, IDEMPOTENCY_ANSWER)
    assert find_misconceptions(grader.matcher, question, *inputs)[0]
    params = grader.params
    off = Matcher(embedder, params=params.model_copy(
        update={"thresholds": params.thresholds.model_copy(update={"misconception": 1.01})}
    ))
    assert find_misconceptions(off, question, *detection_inputs(off, question, IDEMPOTENCY_ANSWER)) == ([], frozenset())


def test_a_confused_term_counts_in_the_unit_or_before_it_in_its_sentence(grader: OfflineGrader):
    matcher = grader.matcher
    _, (claim,) = matcher.view_claims("How do you audit API calls?", ["CloudWatch records every API call."])

    def named(answer: str) -> dict[str, bool]:
        view = matcher.view_answer(answer)
        return {unit.span.text: names_other_term(matcher, claim, view, u) for u, unit in enumerate(view.units)}

    assert set(named("CloudTrail records every API call made in the account.").values()) == {True}
    assert set(named("CloudWatch records every API call made in the account.").values()) == {False}
    after = named("It records every API call made in the account, so we turn on CloudTrail.")
    assert after["It records every API call made in the account"] is False
    assert after["we turn on CloudTrail."] is True


# ---------------------------------------------------------------------------------------------- through the grader


def test_a_misconception_stated_as_one_of_its_paraphrases_is_caught(embedder, sg_question):
    params = default_params().model_copy(update={"misconception_paraphrases": True})
    grader = OfflineGrader(matcher=Matcher(embedder, params=params))
    claim_only = Misconception(
        id="sg-logs-drops",
        claim="Security groups write a log entry for every blocked packet.",
        correction="Security groups keep no logs; VPC Flow Logs record accepted and rejected traffic.",
    )
    worded = claim_only.model_copy(
        update={"paraphrases": ("Every dropped connection gets recorded by the security group itself.",)}
    )
    answer = "When debugging we read the dropped connections the security group itself recorded."
    without = grader.grade(sg_question.model_copy(update={"misconceptions": (claim_only,)}), answer, [])
    assert without.misconceptions == [], "the claim's own wording is too far from the answer"
    found = grader.grade(sg_question.model_copy(update={"misconceptions": (worded,)}), answer, [])
    assert [m.misconception_id for m in found.misconceptions] == ["sg-logs-drops"]
    assert found.misconceptions[0].claim == claim_only.claim, "the finding names the claim, not the paraphrase"


def test_a_key_point_the_sentence_negates_is_no_rival_to_the_misconception(grader: OfflineGrader, question_bank):
    """The sentence repeats little of "consumers must be idempotent" but negates its word "idempotent"."""
    answer = (
        "SNS topic for OrderPlaced, fanned out to a queue per service. Lambda event source mappings poll each queue "
        "in batches, and with partial batch responses only failed messages get retried. DLQ after a few receives. "
        "Since SNS and SQS guarantee exactly-once delivery, the consumers don't need to be idempotent, which keeps "
        "the code simple."
    )
    grade = grader.grade(question_bank.get("order-processing-event-driven"), answer)
    assert [m.misconception_id for m in grade.misconceptions] == ["no-idempotency"]
    assert "idempotent" in grade.misconceptions[0].evidence[0]


def test_a_confused_term_named_after_the_misconception_does_not_excuse_it(grader: OfflineGrader, question_bank):
    """ "it" means EventBridge, named before it; SNS, named after it, is what the candidate uses instead."""
    question = question_bank.get("eventbridge-vs-sns")
    stated = grader.grade(
        question,
        "EventBridge routes events from a bus through rules. But it only handles events that AWS services emit, "
        "so for our own application events we'd use SNS.",
    )
    assert "eventbridge-aws-only" in [m.misconception_id for m in stated.misconceptions]
    corrected = grader.grade(
        question,
        "SNS pushes to subscribers. EventBridge also takes our own application events, not only the events AWS "
        "services emit.",
    )
    assert corrected.misconceptions == []


def test_the_correction_is_told_apart_by_match_probability_not_cosine(grader: OfflineGrader, question_bank):
    """The claim and its correction are both about Fargate, ECS and EKS, so their cosines with either sentence
    are close; the words each sentence shares with the claim or with the correction tell them apart."""
    question = question_bank.get("ecs-vs-eks-choice")
    stated = grader.grade(
        question,
        "EKS gives you the Kubernetes ecosystem. One thing to keep in mind: Fargate is ECS-only, so with EKS you'll "
        "always be managing EC2 node groups.",
    )
    assert "fargate-ecs-only" in [m.misconception_id for m in stated.misconceptions]
    corrected = grader.grade(
        question,
        "EKS gives you the Kubernetes ecosystem. Fargate runs EKS pods as well as ECS tasks, so with EKS you "
        "don't have to manage EC2 node groups.",
    )
    assert "fargate-ecs-only" not in [m.misconception_id for m in corrected.misconceptions]
