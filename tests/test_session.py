"""The interview session (rag/session.py): asking, grading, follow-ups, hints, skips, pausing on a grade."""

from __future__ import annotations

import pytest

from rag.coaching import hint_for
from rag.engine import grade_with_fallback
from rag.history import History
from rag.questions import QuestionBank
from rag.scheduling import LEVEL_UP_ANSWERS
from rag.session import FILTER_EXHAUSTED, command_for
from rag.settings import Settings
from tests.interview_support import (
    FakeGrader,
    make_question,
    session_for,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [("hint", "hint"), ("Hint!", "hint"), ("skip", "skip"), ("Next question", "next"), ("I don't know", "idk"),
     ("idk", "idk"), ("S3 has storage classes", None), ("", None)],
)  # fmt: skip
def test_typed_commands(text, command):
    assert command_for(text) == command


def test_session_asks_grades_follows_up_and_moves_on(history: History, settings: Settings):
    session = session_for(history)
    first = session.start()
    assert session.turns[-1].kind == "question" and history.pending("ana")["question_id"] == first.id
    grade, _ = grade_with_fallback(session.grading_target(), "ia", FakeGrader(), None, passages=[], settings=settings)
    session.record_answer("ia", grade, False)
    follow_up = first.follow_ups[0]
    assert [t.kind for t in session.turns[-2:]] == ["grade", "followup"]
    assert session.turns[-1].text == follow_up.question and session.turns[-1].question_id == follow_up.id
    assert session.current.mode == "followup" and session.current.question_id == follow_up.id
    assert history.pending("ana") is None, "a follow-up is not resumed as a main question"
    target = session.grading_target()
    assert target is follow_up and [kp.id for kp in target.key_points] == ["expedited", "bulk"]
    follow, _ = grade_with_fallback(target, "expedited bulk", FakeGrader(), None, passages=[], settings=settings)
    assert follow.score == 10, "graded against the follow-up's own key points, not the main question's"
    session.record_answer("expedited bulk", follow, False)
    assert session.turns[-1].kind == "followup-grade" and session.turns[-1].question_id == follow_up.id
    assert session.paused and session.question() is None, "the grade stays the last thing on screen"
    assert session.next_question().id != first.id
    assert session.turns[-1].kind == "question" and not session.paused
    main, stored = history.attempts_for("ana")
    assert (main.question_id, main.kind, main.parent_attempt_id) == (first.id, "answer", None)
    assert (stored.question_id, stored.kind, stored.score) == (follow_up.id, "followup", 10.0)
    assert stored.parent_attempt_id == main.id and (stored.topic, stored.level) == (first.topic, "associate")
    assert set(history.cards_for("ana")) == {first.id}, "only the main answer rates a card"


def test_after_a_follow_up_the_next_question_is_not_its_parent(history: History, settings: Settings):
    session = session_for(history)
    first = session.start()
    grade, _ = grade_with_fallback(first, "ia", FakeGrader(), None, passages=[], settings=settings)
    session.record_answer("ia", grade, False)
    session.skip()  # "Next question" during the follow-up
    assert session.current.mode == "answer" and session.question().id not in (first.id, first.follow_ups[0].id)
    assert session.last_question_id == first.id
    assert [a.kind for a in history.attempts_for("ana")] == ["answer"], "moving on from a follow-up stores nothing"


def test_session_reveals_hints_one_at_a_time_until_they_run_out(history: History):
    session = session_for(history)
    question = session.start()
    given = [session.hint() for _ in range(len(question.key_points))]
    assert given == [hint_for(question, n) for n in range(len(question.key_points))]
    assert [t.text for t in session.turns if t.kind == "hint"] == given
    assert session.current.hints == 3 and history.pending("ana")["hints"] == 3
    assert session.hint() is None
    assert session.turns[-1].kind == "hint" and session.turns[-1].meta == {"exhausted": True}
    assert session.current.hints == 3


def test_a_follow_up_hints_from_its_own_key_points(history: History, settings: Settings):
    session = session_for(history)
    first = session.start()
    grade, _ = grade_with_fallback(session.grading_target(), "ia", FakeGrader(), None, passages=[], settings=settings)
    session.record_answer("ia", grade, False)
    follow_up = session.question()
    assert session.current.mode == "followup" and follow_up.id == first.follow_ups[0].id
    assert session.hint() == follow_up.key_points[0].hint
    assert session.hint() == follow_up.key_points[1].hint
    assert session.hint() is None
    assert all(t.question_id == follow_up.id for t in session.turns if t.kind == "hint")


def test_i_dont_know_on_a_follow_up_shows_its_own_model_answer_is_stored_and_rates_nothing(
    history: History, settings: Settings
):
    session = session_for(history)
    first = session.start()
    grade, _ = grade_with_fallback(session.grading_target(), "ia", FakeGrader(), None, passages=[], settings=settings)
    session.record_answer("ia", grade, False)
    assert session.dont_know() is None
    shown = next(t for t in reversed(session.turns) if t.kind == "model-answer")
    assert shown.text == first.follow_ups[0].model_answer != first.model_answer
    assert shown.question_id == first.follow_ups[0].id
    assert session.paused, "the model answer stays in view until Next"
    assert session.next_question().id != first.id
    stored = sorted(history.attempts_for("ana"), key=lambda a: a.id)
    assert [(a.kind, a.question_id, a.score) for a in stored] == [
        ("answer", first.id, grade.score),
        ("followup", first.follow_ups[0].id, 0.0),
    ]
    assert stored[1].parent_attempt_id == stored[0].id
    assert set(history.cards_for("ana")) == {first.id}


def test_a_good_follow_up_answer_scores_well_with_the_real_offline_grader(
    history: History, settings: Settings, question_bank: QuestionBank
):
    from rag.grading.offline import OfflineGrader

    parent = question_bank.get("vpc-private-instance-no-internet")
    session = session_for(history, parent)
    assert session.start().id == parent.id
    grader = OfflineGrader()
    weak = "I would put the instance in a private subnet and route it through a NAT gateway."
    grade, _ = grade_with_fallback(parent, weak, grader, None, passages=[], settings=settings)
    session.record_answer(weak, grade, False)
    assert session.current.mode == "followup", f"a weak answer ({grade.score}) gets a follow-up"
    follow_up = session.grading_target()
    assert follow_up.parent == parent.id and session.turns[-1].text == follow_up.question
    answer = (
        "A NAT gateway only lives in one Availability Zone. If that zone fails, instances in the other zones whose "
        "route tables point at it lose their outbound internet access. To avoid that I deploy a NAT gateway in "
        "each AZ and give every AZ's private subnets a route table that sends traffic to the NAT gateway in the "
        "same zone, which also saves the cross-AZ data transfer charges."
    )
    follow, _ = grade_with_fallback(follow_up, answer, grader, None, passages=[], settings=settings)
    assert follow.scored and follow.score >= 8.0, follow.feedback
    assert {kp.key_point_id for kp in follow.key_points} == {kp.id for kp in follow_up.key_points}
    session.record_answer(answer, follow, False)
    main, stored = history.attempts_for("ana")
    assert (stored.question_id, stored.kind, stored.parent_attempt_id) == (follow_up.id, "followup", main.id)
    assert stored.score == follow.score


def test_session_skip_idk_and_hint(history: History):
    session = session_for(history)
    session.start()
    hint = session.hint()
    assert hint and session.current.hints == 1 and history.pending("ana")["hints"] == 1
    first = session.question().id
    session.skip()
    assert session.question().id != first
    second = session.question().id
    grade = session.dont_know()
    assert grade.score == 0
    attempts = history.attempts_for("ana")
    assert [(a.question_id, a.kind, a.score) for a in attempts] == [(first, "skip", None), (second, "idk", 0.0)]
    assert attempts[0].hints == 1
    assert session.turns[-1].kind == "idk" and session.paused, "the model answer stays in view until Next"


def test_a_new_session_resumes_the_unanswered_question(history: History):
    session = session_for(history)
    asked = session.start()
    again = session_for(history, seed=99)
    assert again.start().id == asked.id
    assert again.turns[-1].meta["resumed"]


def test_changing_filters_keeps_the_current_question_and_applies_to_the_next(history: History):
    session = session_for(history, make_question("a"), make_question("b", topic="networking"), make_question("c"))
    first = session.start()
    assert session.set_filters(["networking"], [])
    assert session.question().id == first.id, "the question on screen stays"
    assert not session.set_filters(["networking"], []), "unchanged filters change nothing"
    session.skip()
    assert session.question().topic == "networking"
    session.set_filters(["networking"], ["architect"])
    session.skip()
    assert session.question() is None and "No questions match" in session.turns[-1].text


def test_a_new_candidate_gets_associate_questions_until_their_scores_open_the_next_level(history: History):
    questions = (make_question("a1"), make_question("a2"), make_question("p1", level="professional"))
    session = session_for(history, *questions)
    assert {q.id for q in session.candidates()} == {"a1", "a2"}
    for _ in range(LEVEL_UP_ANSWERS):
        history.record_attempt("ana", question_id="a1", topic="storage", level="associate", kind="answer",
                               score=8.0, status="scored")  # fmt: skip
    assert {q.id for q in session.candidates()} == {"a1", "a2", "p1"}
    assert {q.id for q in session_for(history, *questions, levels=["professional"]).candidates()} == {"p1"}, (
        "the sidebar's level filter overrides"
    )


def test_a_topic_with_no_question_at_the_candidates_level_still_has_questions(history: History):
    session = session_for(history, make_question("a1"), make_question("p1", topic="networking", level="architect"),
                          topics=["networking"])  # fmt: skip
    assert [q.id for q in session.candidates()] == ["p1"]


def test_skip_in_a_one_question_filter_moves_to_another_question_and_says_the_filter_is_exhausted(history: History):
    session = session_for(history, make_question("a"), make_question("b", topic="networking"), topics=["networking"])
    assert session.start().id == "b"
    session.skip()
    assert session.question().id == "a"
    assert any(t.kind == "info" and t.text == FILTER_EXHAUSTED for t in session.turns)


def test_a_repeated_question_carries_its_last_score_and_date(history: History):
    session = session_for(history, make_question("a"))
    history.record_attempt("ana", question_id="a", topic="storage", level="associate", kind="answer",
                           score=2.3, status="scored")  # fmt: skip
    session.start()
    meta = session.turns[-1].meta
    assert meta["last_score"] == 2.3 and meta["last_at"]
    fresh = session_for(history, make_question("b"))
    fresh.start()
    assert "last_score" not in fresh.turns[-1].meta


def test_try_again_re_asks_the_last_graded_question_as_a_new_attempt(history: History, settings: Settings):
    session = session_for(history, make_question("a", follow_ups=()),
                          make_question("b", topic="networking", follow_ups=()))  # fmt: skip
    assert not session.can_try_again() and session.try_again() is None, "nothing graded yet"
    first = session.start()
    grade, _ = grade_with_fallback(session.grading_target(), "glacier ia tiering", FakeGrader(), None, passages=[],
                                   settings=settings)  # fmt: skip
    session.record_answer("glacier ia tiering", grade, False)
    assert session.paused and session.can_try_again(), "from the grade itself"
    session.next_question()
    assert session.question().id != first.id and session.can_try_again()
    assert session.try_again().id == first.id
    assert session.turns[-1].kind == "question" and session.turns[-1].meta["again"]
    assert session.turns[-1].meta["last_score"] == grade.score
    assert not session.can_try_again(), "the question graded last is already on screen"
    again, _ = grade_with_fallback(session.grading_target(), "glacier", FakeGrader(), None, passages=[],
                                   settings=settings)  # fmt: skip
    session.record_answer("glacier", again, False)
    assert session.try_again().id == first.id, "straight from the grade, without Next"
    assert [a.kind for a in history.attempts_for("ana")] == ["answer", "answer"], (
        "putting the other question back rates nothing"
    )
    assert command_for("try again") == "again"


def test_after_a_grade_the_session_waits_for_next_and_keeps_text_typed_meanwhile(history: History, settings: Settings):
    session = session_for(history, make_question("a", follow_ups=()), make_question("b", topic="networking"),
                          topics=["storage"])  # fmt: skip
    first = session.start()
    grade, _ = grade_with_fallback(first, "glacier", FakeGrader(), None, passages=[], settings=settings)
    session.record_answer("glacier", grade, False)
    assert session.paused and session.turns[-1].kind == "grade" and history.pending("ana") is None
    assert session.hint() is None and session.dont_know() is None, "nothing to hint or give up on"
    session.answer_without_question("an answer typed after the grade")
    assert [(t.role, t.kind) for t in session.turns[-2:]] == [("user", "answer"), ("assistant", "info")]
    assert session.turns[-2].text == "an answer typed after the grade"
    assert session.set_filters(["networking"], []) and session.question() is None, "filters wait for Next too"
    assert session.next_question().id == "b" and not session.paused
    assert [a.kind for a in history.attempts_for("ana")] == ["answer"]


def test_next_on_an_open_question_skips_it(history: History):
    session = session_for(history, make_question("a"), make_question("b", topic="networking"))
    first = session.start()
    assert session.next_question().id != first.id
    assert [a.kind for a in history.attempts_for("ana")] == ["skip"]
