"""Spaced repetition and question choice (rag/scheduling.py): FSRS ratings, due order, weak topics, levels."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from fsrs import Rating

from rag.questions import Level
from rag.scheduling import (
    choose_question,
    due_times,
    load_card,
    practice_level,
    rating_for,
    review,
    topic_weight,
)
from tests.interview_support import (
    NOW,
    make_question,
)


@pytest.mark.parametrize(
    ("score", "kind", "hints", "expected"),
    [
        (0.0, "answer", 0, Rating.Again),
        (3.9, "answer", 0, Rating.Again),
        (4.0, "answer", 0, Rating.Hard),
        (6.4, "answer", 0, Rating.Hard),
        (6.5, "answer", 0, Rating.Good),
        (8.4, "answer", 0, Rating.Good),
        (8.5, "answer", 0, Rating.Easy),
        (10.0, "answer", 0, Rating.Easy),
        (10.0, "answer", 1, Rating.Hard),
        (2.0, "answer", 2, Rating.Again),
        (None, "skip", 0, Rating.Again),
        (0.0, "idk", 0, Rating.Again),
        (None, "answer", 0, None),
        (9.0, "followup", 0, None),
    ],
)
def test_grade_maps_to_an_fsrs_rating(score, kind, hints, expected):
    assert rating_for(score, kind, hints) == expected


def test_review_schedules_good_answers_later_than_failed_ones():
    _, again_due = review(None, "q1", Rating.Again, NOW)
    easy_json, easy_due = review(None, "q1", Rating.Easy, NOW)
    assert datetime.fromisoformat(again_due) < datetime.fromisoformat(easy_due)
    assert datetime.fromisoformat(again_due) - NOW <= timedelta(minutes=10)
    assert datetime.fromisoformat(easy_due) - NOW >= timedelta(days=1)
    assert load_card(easy_json, "q1").due == datetime.fromisoformat(easy_due)
    assert load_card("not json", "q1").due.year == 1970, "an unreadable card counts as new"


def test_never_the_same_question_twice_in_a_row():
    questions = [make_question("a"), make_question("b")]
    rng = random.Random(0)
    last = None
    for _ in range(50):
        chosen = choose_question(questions, {}, {}, last, NOW, rng)
        assert chosen.id != last
        last = chosen.id
    overdue = {"a": NOW - timedelta(days=3), "b": NOW + timedelta(days=3)}
    assert choose_question(questions, overdue, {}, "a", NOW, rng).id == "b", "even when the other one is due"
    assert choose_question([make_question("a")], {}, {}, "a", NOW, rng).id == "a", "unless it is the only one"
    assert choose_question([], {}, {}, None, NOW, rng) is None


def test_due_questions_come_first_most_overdue_first():
    questions = [make_question(q) for q in ("new1", "due-late", "due-early", "future")]
    due = {
        "due-late": NOW - timedelta(hours=1),
        "due-early": NOW - timedelta(days=2),
        "future": NOW + timedelta(days=4),
    }
    assert choose_question(questions, due, {}, None, NOW, random.Random(1)).id == "due-early"
    due.pop("due-early")
    questions = [q for q in questions if q.id != "due-early"]
    assert choose_question(questions, due, {}, None, NOW, random.Random(1)).id == "due-late"


def test_unseen_before_not_yet_due_then_the_soonest_due():
    questions = [make_question("seen"), make_question("unseen")]
    due = {"seen": NOW + timedelta(days=1)}
    assert choose_question(questions, due, {}, None, NOW, random.Random(2)).id == "unseen"
    all_seen = {"seen": NOW + timedelta(days=1), "unseen": NOW + timedelta(days=5)}
    assert choose_question(questions, all_seen, {}, None, NOW, random.Random(2)).id == "seen"


def test_unseen_questions_are_weighted_toward_weak_topics():
    questions = [make_question(f"s{i}", topic="storage") for i in range(5)] + [
        make_question(f"n{i}", topic="networking") for i in range(5)
    ]
    means = {"storage": 9.5, "networking": 1.0}
    rng = random.Random(42)
    topics = Counter(choose_question(questions, {}, means, None, NOW, rng).topic for _ in range(2000))
    assert topics["networking"] > 2 * topics["storage"]
    assert topic_weight(0) == 3.0 and topic_weight(10) == 1.0 and topic_weight(None) == 2.0


def test_choice_is_deterministic_with_a_seeded_rng():
    questions = [make_question(f"q{i}", topic=t) for i, t in enumerate(["a", "b", "c", "d"] * 3)]
    first = [choose_question(questions, {}, {}, None, NOW, random.Random(5)).id for _ in range(3)]
    again = [choose_question(questions, {}, {}, None, NOW, random.Random(5)).id for _ in range(3)]
    assert first == again


def test_due_times_reads_stored_cards():
    card_json, due = review(None, "q", Rating.Good, NOW)
    assert due_times({"q": card_json}) == {"q": datetime.fromisoformat(due)}


def test_practice_level_starts_at_associate_and_rises_only_on_enough_good_recent_scores():
    assert practice_level({}) is Level.associate
    assert practice_level({"associate": [9.0, 9.0]}) is Level.associate, "two answers are too few"
    assert practice_level({"associate": [8.0, 7.0, 7.5]}) is Level.professional
    assert practice_level({"associate": [9.0, 9.0, 2.0, 3.0, 4.0]}) is Level.associate, "mean 5.4 of the last five"
    assert practice_level({"associate": [8.0] * 3, "professional": [7.0] * 4}) is Level.architect
    assert practice_level({"professional": [9.0] * 5}) is Level.associate, "levels open in order"
