"""The key-point matcher with the real MiniLM model: alignment, polarity, question demoting, evidence."""

from __future__ import annotations

import numpy as np
import pytest

from rag.grading.match_params import CANDIDATE_FEATURES, default_params
from rag.grading.matching import Matcher

SG_QUESTION = "How do security groups differ from network ACLs?"
SG_STATEFUL = "Security groups are stateful, so return traffic is allowed automatically."
SQS_QUESTION = "What delivery guarantees does Amazon SQS give?"
SQS_ORDER = "Standard queues do not guarantee order."


@pytest.fixture(scope="module")
def matcher(embedder) -> Matcher:
    return Matcher(embedder)


def match(matcher: Matcher, question: str, claim: str, answer: str):
    question_view, claims = matcher.view_claims(question, [claim])
    return matcher.match_claims(question_view, [("claim", claims[0])], matcher.view_answer(answer))[0]


def test_a_paraphrase_earns_the_point(matcher: Matcher):
    answer = "A security group remembers connections, so the response traffic is automatically allowed."
    result = match(matcher, SG_QUESTION, SG_STATEFUL, answer)
    assert result.probability >= default_params().thresholds.covered
    assert result.contradiction < result.probability


def test_stateless_contradicts_stateful_and_earns_nothing(matcher: Matcher):
    result = match(matcher, SG_QUESTION, SG_STATEFUL, "Security groups are stateless, so return traffic needs a rule.")
    assert result.probability < default_params().thresholds.partly
    assert result.contradiction >= default_params().thresholds.contradicted
    assert "Security groups are stateless" in result.contradiction_evidence


ALB_QUESTION = "How does an Application Load Balancer route requests?"
ALB_FORWARDS = "The ALB forwards requests to the target group."


def test_a_clause_that_swaps_the_claims_roles_states_its_opposite(embedder):
    reading_roles = Matcher(embedder, params=default_params().model_copy(update={"role_swaps": True}))
    word_overlap_only = Matcher(embedder, params=default_params().model_copy(update={"role_swaps": False}))
    swapped = "The target group forwards requests to the ALB."
    blind = match(word_overlap_only, ALB_QUESTION, ALB_FORWARDS, swapped)
    assert blind.probability >= default_params().thresholds.covered, "the same words earn the point without a parse"
    result = match(reading_roles, ALB_QUESTION, ALB_FORWARDS, swapped)
    assert result.probability < default_params().thresholds.partly
    assert result.contradiction >= default_params().thresholds.contradicted
    kept = match(reading_roles, ALB_QUESTION, ALB_FORWARDS, "Requests are forwarded by the ALB to the target group.")
    assert kept.probability >= default_params().thresholds.covered and kept.contradiction == 0


def test_matching_negations_still_match(matcher: Matcher):
    result = match(matcher, SQS_QUESTION, SQS_ORDER, "SQS does not guarantee ordering.")
    assert result.probability >= default_params().thresholds.partly
    assert result.contradiction == 0.0


def test_a_dropped_negation_does_not_match(matcher: Matcher):
    result = match(matcher, SQS_QUESTION, SQS_ORDER, "SQS guarantees ordering.")
    assert result.probability < default_params().thresholds.partly
    assert result.contradiction > result.probability


def test_restating_the_question_earns_nothing(matcher: Matcher, question_bank):
    for question in question_bank.questions[::8]:
        question_view, claims = matcher.view_claims(question.question, [kp.text for kp in question.key_points])
        view = matcher.view_answer(question.question)
        results = matcher.match_claims(
            question_view, list(zip([kp.id for kp in question.key_points], claims, strict=True)), view
        )
        best = max(r.probability for r in results)
        assert best < default_params().thresholds.partly, (question.id, best)


def test_demoted_recall_ignores_words_the_question_already_has(matcher: Matcher):
    question_view, claims = matcher.view_claims(SQS_QUESTION, [SQS_ORDER])
    assert claims[0].novel == claims[0].stems - question_view.stems
    assert "guarante" not in claims[0].novel
    features = matcher.unit_features(question_view, claims[0], matcher.view_answer("Amazon SQS gives guarantees."))
    assert features[:, CANDIDATE_FEATURES.index("stem_recall_novel")].max() == 0.0


def test_evidence_is_the_candidates_own_words(matcher: Matcher):
    answer = "First I check the route table. Security groups are stateful, so replies come back automatically."
    result = match(matcher, SG_QUESTION, SG_STATEFUL, answer)
    assert result.evidence
    for quote in result.evidence:
        assert quote in answer
    assert all("route table" not in quote for quote in result.evidence)


def test_features_are_rounded_and_repeatable(matcher: Matcher):
    question_view, claims = matcher.view_claims(SG_QUESTION, [SG_STATEFUL])
    first = matcher.unit_features(question_view, claims[0], matcher.view_answer("SGs track connections."))
    second = matcher.unit_features(question_view, claims[0], matcher.view_answer("SGs track connections."))
    assert np.array_equal(first, second)
    assert np.array_equal(first, np.round(first, 4))


def test_british_spellings_reach_the_model_as_american_where_it_knows_the_word(matcher: Matcher):
    written = matcher._written_out("They analyse its behaviour in the centre; otherwise precise.").text
    assert written == "They analyze its behavior in the center; otherwise precise."


def test_british_and_american_answers_match_a_claim_alike(matcher: Matcher):
    question = "How do Kinesis and SQS differ?"
    claim = "Several applications can analyze the same Kinesis stream, and SQS suits background job behavior."
    british = "Lots of apps can analyse one Kinesis stream at once; SQS is for background job behaviour."
    american = "Lots of apps can analyze one Kinesis stream at once; SQS is for background job behavior."
    read_british, read_american = (match(matcher, question, claim, text) for text in (british, american))
    assert read_british.unit_scores == read_american.unit_scores
    assert read_british.evidence[0] == "Lots of apps can analyse one Kinesis stream at once"


def test_a_hedged_clause_earns_nothing_and_contradicts_nothing(embedder):
    reading_hedges = Matcher(embedder, params=default_params().model_copy(update={"hedged_clauses": True}))
    plain = Matcher(embedder, params=default_params().model_copy(update={"hedged_clauses": False}))
    hedged = "Security groups are stateful, so return traffic is allowed automatically, or maybe the opposite."
    assert match(plain, SG_QUESTION, SG_STATEFUL, hedged).probability >= default_params().thresholds.covered
    result = match(reading_hedges, SG_QUESTION, SG_STATEFUL, hedged)
    assert result.probability < default_params().thresholds.partly
    assert result.contradiction == 0
    unsure = match(reading_hedges, SG_QUESTION, SG_STATEFUL, "I'm not sure whether security groups are stateless.")
    assert unsure.contradiction == 0, "a doubt about the opposite is not a statement of it"
    stated = match(reading_hedges, SG_QUESTION, SG_STATEFUL, SG_STATEFUL)
    assert stated.probability >= default_params().thresholds.covered
