"""Hints and follow-ups (rag/coaching.py): written nudges one at a time, which follow-up a grade calls for."""

from __future__ import annotations

from rag.coaching import hint_for, pick_follow_up, should_follow_up
from rag.grading.base import build_grade, unscored_grade
from tests.interview_support import (
    COST,
    RESTORE,
    make_question,
    verdicts,
)


def test_hints_are_the_written_nudges_heaviest_point_first_one_at_a_time():
    question = make_question("a")
    hints = [hint_for(question, n) for n in range(4)]
    assert hints == [
        "Can you GET an archived object straight away, or is there a step first?",
        "Cheaper storage for rarely read data: where does the cost come back?",
        "What if you cannot predict how often data will be read?",
        None,
    ]


def test_hints_skip_points_already_covered_and_then_run_out():
    question = make_question("a")
    assert hint_for(question, 0, {"glacier"}) == question.key_points[1].hint
    assert hint_for(question, 1, {"glacier"}) == question.key_points[2].hint
    assert hint_for(question, 2, {"glacier"}) is None
    assert hint_for(question, 0, {"glacier", "ia", "tiering"}) is None


def test_a_key_point_without_a_written_hint_gets_a_generic_nudge_not_its_text():
    question = make_question("a")
    bare = question.model_copy(update={"key_points": (question.key_points[0].model_copy(update={"hint": None}),)})
    hint = hint_for(bare, 0)
    assert hint and "restored" not in hint and "Glacier" not in hint


def test_follow_up_only_below_the_threshold_once_and_when_the_question_has_one():
    question = make_question("a")
    weak = build_grade(question, verdicts(question, {"ia"}), [], grader="offline", model="x")
    strong = build_grade(question, verdicts(question, {"ia", "glacier", "tiering"}), [], grader="offline", model="x")
    assert should_follow_up(question, weak, already_asked=False)
    assert not should_follow_up(question, weak, already_asked=True)
    assert not should_follow_up(question, strong, already_asked=False)
    assert not should_follow_up(make_question("b", follow_ups=()), weak, already_asked=False)
    unscored = unscored_grade(question, "down", grader="llm", model="m")
    assert not should_follow_up(question, unscored, already_asked=False)


def test_the_follow_up_closest_to_what_was_missed_is_picked_by_its_key_points():
    question = make_question("a", follow_ups=(COST, RESTORE))
    missed_glacier = build_grade(question, verdicts(question, {"ia", "tiering"}), [], grader="offline", model="x")
    assert pick_follow_up(question, missed_glacier).id == "a--restore"
    nothing_shared = build_grade(question, verdicts(question, {"glacier", "ia"}), [], grader="offline", model="x")
    assert pick_follow_up(question, nothing_shared).id == "a--cost", "the first one on a tie"
