"""The key-point matcher with the real MiniLM model: alignment, polarity, question demoting, evidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.grading.matching import CANDIDATE_FEATURES, Matcher, TokenEncoder, default_params, load_params

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


def test_units_are_clauses_windows_and_short_whole_answers(matcher: Matcher):
    answer = "Security groups are stateful. NACLs are stateless, so you allow return ports. They apply to subnets."
    view = matcher.view_answer(answer)
    assert len(view.clauses) == 4
    singles = [u for u in view.units if len(u.clauses) == 1]
    windows = [u for u in view.units if len(u.clauses) == 2]
    assert len(singles) == 4 and len(windows) == 3
    assert not any(len(u.clauses) > 2 for u in view.units), "three sentences are three statements, not one unit"
    for unit in view.units:
        assert answer[unit.span.start : unit.span.end] == unit.span.text
    assert [u.within_sentence for u in windows] == [False, True, False]
    assert view.vectors.shape == (len(view.units), 384)
    assert np.allclose(np.linalg.norm(view.vectors, axis=1), 1.0, atol=1e-5)


def test_a_short_answer_of_one_or_two_sentences_is_also_a_unit_whole(matcher: Matcher):
    two = matcher.view_answer("Security groups are stateful, so return traffic is allowed. NACLs are stateless.")
    assert len(two.clauses) == 3 and any(len(u.clauses) == 3 for u in two.units)
    bullets = matcher.view_answer("- Direct Connect: private link\n- 2 connections\n- VPN backup over the internet")
    assert len(bullets.clauses) == 3 and not any(len(u.clauses) == 3 for u in bullets.units)


POOLING_TEXTS = ["Security groups are stateful.", "A NAT gateway allows outbound connections only."]


def test_the_float_token_encoder_pools_exactly_like_the_embedder(embedder):
    pooled = np.stack([e.pooled for e in TokenEncoder(embedder, quantized=False).encode(POOLING_TEXTS)])
    assert np.allclose(pooled, embedder.embed(POOLING_TEXTS), atol=1e-5)


def test_the_int8_token_encoder_stays_close_to_the_float_model_and_leaves_it_untouched(matcher: Matcher, embedder):
    pooled = np.stack([e.pooled for e in matcher.encoder.encode(POOLING_TEXTS)])
    cosines = np.sum(pooled * embedder.embed(POOLING_TEXTS), axis=1)
    assert np.all(cosines > 0.9), cosines
    assert matcher.encoder.transformer is not embedder.model[0].auto_model
    assert type(embedder.model[0].auto_model.encoder.layer[0].output.dense).__name__ == "Linear"


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


def test_params_file_is_validated(tmp_path: Path):
    data = json.loads((Path(__file__).parents[2] / "rag" / "grading" / "offline_params.json").read_text())
    assert load_params().features == tuple(data["features"])
    bad = tmp_path / "params.json"
    bad.write_text(json.dumps({**data, "features": ["made_up"], "weights": [1.0]}))
    with pytest.raises(ConfigError, match="unknown features"):
        load_params(bad)
    bad.write_text(json.dumps({**data, "thresholds": {**data["thresholds"], "partly": 0.9}}))
    with pytest.raises(ConfigError, match="partly"):
        load_params(bad)
    with pytest.raises(ConfigError, match="fit_offline"):
        load_params(tmp_path / "missing.json")


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


def test_save_params_section_replaces_one_section_and_keeps_the_rest(tmp_path):
    import json

    from rag.grading.matching import PARAMS_PATH, default_params, load_params, save_params_section

    copy = tmp_path / "offline_params.json"
    copy.write_text(PARAMS_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    assert save_params_section("review", {"candidates": 2}, copy) == copy
    assert save_params_section("extra", {"a": [1]}, copy) == copy, "a dict value is accepted (nothing caches it)"
    data = json.loads(copy.read_text(encoding="utf-8"))
    assert data["review"] == {"candidates": 2} and data["extra"] == {"a": [1]}
    assert load_params(copy).thresholds == default_params().thresholds
    assert default_params() is default_params(), "the committed parameters are read once per process"
