"""Key points derived from bare reference answers (how the grader runs on SciEntsBank)."""

from __future__ import annotations

import pytest

from rag.grading.derive import MAX_KEY_POINTS, derive_key_points, questions_from_reference, split_alternatives


def test_alternatives_are_split_on_double_bars_without_blanks_or_repeats():
    assert split_alternatives("The water evaporated. || Evaporation left the salt. ||  || The water evaporated.") == [
        "The water evaporated.",
        "Evaporation left the salt.",
    ]


def test_one_key_point_per_sentence_equally_weighted():
    points = derive_key_points(
        "Anna should compare the size of the grease spots. The sample with the larger grease spot has more fat."
    )
    assert [p.text for p in points] == [
        "Anna should compare the size of the grease spots.",
        "The sample with the larger grease spot has more fat.",
    ]
    assert [p.id for p in points] == ["kp-1", "kp-2"]
    assert {p.weight for p in points} == {1}


def test_clause_granularity_cuts_sentences_into_atomic_clauses():
    reference = "The clay particles are lighter, so they are carried farther by the water."
    assert len(derive_key_points(reference, "sentence")) == 1
    assert [p.text for p in derive_key_points(reference, "clause")] == [
        "The clay particles are lighter",
        "they are carried farther by the water.",
    ]
    assert [p.text for p in derive_key_points(reference, "whole")] == [reference]


def test_pieces_without_content_join_a_neighbour():
    points = derive_key_points("Yes. The bulb stays lit because the circuit is parallel.")
    assert len(points) == 1
    assert "bulb stays lit" in points[0].text


def test_long_references_are_capped_at_the_question_models_limit():
    reference = " ".join(f"Fact number {i} is about topic {i}." for i in range(12))
    points = derive_key_points(reference)
    assert len(points) == MAX_KEY_POINTS
    assert "topic 11" in points[-1].text


def test_empty_reference_and_unknown_granularity_are_errors():
    with pytest.raises(ValueError, match="empty"):
        derive_key_points("   ")
    with pytest.raises(ValueError, match="granularity"):
        derive_key_points("Some text here.", "paragraph")
    with pytest.raises(ValueError, match="empty"):
        questions_from_reference("q1", "Why?", " || ")


def test_one_question_per_alternative_with_the_reference_as_model_answer():
    questions = questions_from_reference(
        "EM_45b", "How did you separate the salt?", "It evaporated. || We boiled it off."
    )
    assert [q.id for q in questions] == ["em-45b-alt1", "em-45b-alt2"]
    assert questions[1].model_answer == "We boiled it off."
    assert questions[0].question == "How did you separate the salt?"
    assert questions_from_reference("EM_45b", "Where did the salt go?", "It evaporated.")[0].id == "em-45b"


def test_short_questions_and_references_from_public_sets_are_accepted():
    """Public sets ask "Why?" and accept "No": both are real questions and references."""
    (question,) = questions_from_reference("q1", "Why?", "No")
    assert question.question == "Why?"
    assert [kp.text for kp in question.key_points] == ["No"]
