"""The interview loop without a UI: FSRS ratings, question choice, hints, follow-ups, fallback grading."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fsrs import Rating

from rag.grading.base import build_grade, unscored_grade
from rag.grading.result import KeyPointVerdict, Verdict
from rag.history import History
from rag.practice import (
    FILTER_EXHAUSTED,
    LEVEL_UP_ANSWERS,
    Engine,
    InterviewSession,
    choose_question,
    command_for,
    due_times,
    grade_with_fallback,
    hint_for,
    load_card,
    pick_follow_up,
    practice_level,
    rating_for,
    review,
    should_follow_up,
    topic_weight,
)
from rag.questions import Level, Question, QuestionBank
from rag.settings import Settings

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def make_follow_up(fid: str, question: str, *points: tuple[str, str, str]) -> dict:
    """A follow-up as the bank writes it: (id, text, hint) per key point; the parent fills in the rest."""
    return {
        "id": fid,
        "question": question,
        "key_points": [{"id": kid, "text": text, "hint": hint, "weight": 2} for kid, text, hint in points],
        "model_answer": f"The model answer to {fid}.",
    }


RESTORE = make_follow_up(
    "restore",
    "How long does a Glacier restore take?",
    ("expedited", "Expedited Glacier restores take minutes.", "Is there a fast, pricier retrieval option?"),
    ("bulk", "Bulk Glacier restores take hours and cost least.", "And the cheapest option: how long?"),
)
COST = make_follow_up(
    "cost",
    "How do you control storage cost?",
    ("budgets", "AWS Budgets alert when spend passes a threshold.", "What tells you spend is running away?"),
    ("lens", "S3 Storage Lens shows usage per bucket and prefix.", "Where do you see usage per bucket?"),
)


def make_question(qid: str, topic: str = "storage", level: str = "associate", follow_ups=(RESTORE,)):
    follow_ups = [{**fu, "id": f"{qid}--{fu['id']}"} for fu in follow_ups]  # follow-up ids are unique in a bank
    return Question(
        id=qid,
        topic=topic,
        level=level,
        question=f"Explain the S3 storage classes ({qid}).",
        key_points=[
            {
                "id": "glacier",
                "text": "Glacier Deep Archive objects must be restored before reading, taking hours.",
                "weight": 3,
                "hint": "Can you GET an archived object straight away, or is there a step first?",
            },
            {
                "id": "ia",
                "text": "Standard-IA charges a per-GB retrieval fee.",
                "weight": 2,
                "hint": "Cheaper storage for rarely read data: where does the cost come back?",
            },
            {
                "id": "tiering",
                "text": "Intelligent-Tiering moves objects between tiers automatically.",
                "weight": 1,
                "hint": "What if you cannot predict how often data will be read?",
            },
        ],
        misconceptions=[{"id": "instant", "claim": "Glacier is instant.", "correction": "Only Instant Retrieval."}],
        model_answer="A model answer.",
        sources=["s3"],
        follow_ups=list(follow_ups),
    )


def verdicts(question: Question, covered: set[str]) -> list[KeyPointVerdict]:
    return [
        KeyPointVerdict(
            key_point_id=kp.id,
            text=kp.text,
            weight=kp.weight,
            verdict=Verdict.covered if kp.id in covered else Verdict.missed,
            evidence=["quoted words"] if kp.id in covered else [],
        )
        for kp in question.key_points
    ]


class FakeGrader:
    """Covers the key points whose id appears in the answer."""

    def __init__(self, name: str = "offline", model: str = "fake", unscored: bool = False, crash: bool = False):
        self.name, self.model, self.unscored, self.crash, self.calls = name, model, unscored, crash, 0

    def grade(self, question, answer, passages):
        self.calls += 1
        if self.crash:
            raise ConnectionError("endpoint down")
        if self.unscored:
            return unscored_grade(question, "the LLM endpoint is down", grader=self.name, model=self.model)
        covered = {kp.id for kp in question.key_points if kp.id in answer}
        return build_grade(question, verdicts(question, covered), [], grader=self.name, model=self.model)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History.in_data_dir(tmp_path / "data")


# ---------------------------------------------------------------- FSRS


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


# ---------------------------------------------------------------- question choice


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


# ---------------------------------------------------------------- hints, follow-ups, commands


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


@pytest.mark.parametrize(
    ("text", "command"),
    [("hint", "hint"), ("Hint!", "hint"), ("skip", "skip"), ("Next question", "next"), ("I don't know", "idk"),
     ("idk", "idk"), ("S3 has storage classes", None), ("", None)],
)  # fmt: skip
def test_typed_commands(text, command):
    assert command_for(text) == command


# ---------------------------------------------------------------- grading with fallback


def test_an_unscored_llm_grade_falls_back_to_offline_with_a_notice(settings: Settings):
    question = make_question("a")
    llm, offline = FakeGrader("llm", "gpt-test", unscored=True), FakeGrader()
    grade, fell_back = grade_with_fallback(question, "glacier ia", llm, offline, passages=[], settings=settings)
    assert fell_back and grade.scored and grade.grader == "offline"
    assert "llm grader" in grade.notices[0] and "offline grader" in grade.notices[0]
    assert llm.calls == 1 and offline.calls == 1


def test_a_crashing_grader_falls_back_and_never_raises(settings: Settings):
    question = make_question("a")
    grade, fell_back = grade_with_fallback(
        question, "glacier", FakeGrader("llm", crash=True), FakeGrader(), passages=[], settings=settings
    )
    assert fell_back and grade.scored
    alone, fell_back = grade_with_fallback(
        question, "glacier", FakeGrader("offline", crash=True), None, passages=[], settings=settings
    )
    assert not fell_back and alone.status == "unscored" and "ConnectionError" in alone.unscored_reason


def test_a_scored_primary_grade_is_kept(settings: Settings):
    question = make_question("a")
    offline = FakeGrader()
    grade, fell_back = grade_with_fallback(question, "ia", FakeGrader("llm"), offline, passages=[], settings=settings)
    assert not fell_back and grade.grader == "llm" and offline.calls == 0


# ---------------------------------------------------------------- the session


def session_for(history: History, *questions: Question, seed: int = 0, **kwargs) -> InterviewSession:
    bank = QuestionBank(questions=questions or (make_question("a"), make_question("b", topic="networking")))
    return InterviewSession("ana", bank, history, rng=random.Random(seed), clock=lambda: NOW, **kwargs)


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


class _Store:
    def __init__(self, count: int, problem: str | None = None):
        self._count = count
        self._problem = problem

    def count(self) -> int:
        return self._count

    def completeness_problem(self) -> str | None:
        return self._problem


def test_engine_reports_an_empty_index_and_loads_graders(settings: Settings):
    made = []

    def factory(name, s):
        made.append(name)
        return FakeGrader(name)

    engine = Engine(settings, grader_factory=factory, store_factory=lambda s: _Store(0), warm_embedder=False)
    assert engine.wait(30)
    assert engine.index_state == "empty" and engine.needs_rebuild
    assert made == ["offline"] and engine.primary is engine.fallback
    assert engine.grader_label() == "offline"


def test_engine_reports_an_index_whose_last_ingest_did_not_finish(settings: Settings):
    problem = "the last ingest did not finish (40 chunks stored); run `python -m rag ingest` to finish it"
    store = _Store(40, problem)
    engine = Engine(settings, grader_factory=lambda n, s: FakeGrader(n), store_factory=lambda s: store,
                    warm_embedder=False)
    assert engine.wait(30)
    assert engine.index_state == "incomplete" and engine.needs_rebuild and engine.index_problem == problem


def test_engine_falls_back_to_offline_when_the_llm_grader_cannot_load(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, grader="llm", openai_base_url="http://127.0.0.1:9/v1", _env_file=None)

    def factory(name, s):
        if name == "llm":
            raise RuntimeError("no such model")
        return FakeGrader(name)

    engine = Engine(settings, grader_factory=factory, store_factory=lambda s: _Store(5), warm_embedder=False)
    assert engine.wait(30) and engine.index_state == "ready"
    assert engine.primary.name == "offline" and "llm grader cannot be loaded" in engine.grader_problem


def test_due_times_reads_stored_cards():
    card_json, due = review(None, "q", Rating.Good, NOW)
    assert due_times({"q": card_json}) == {"q": datetime.fromisoformat(due)}


def test_engine_prefetches_passages_and_warms_the_offline_grader_once(settings: Settings, monkeypatch):
    import rag.practice as practice

    calls = []
    monkeypatch.setattr(practice, "retrieve", lambda question, store, s: calls.append(question.id) or [])
    offline = FakeGrader("offline")
    engine = Engine(settings, grader_factory=lambda n, s: offline, store_factory=lambda s: _Store(3),
                    warm_embedder=False)  # fmt: skip
    question = make_question("a")
    engine.prefetch(question)
    engine.prefetch(question)
    deadline = time.monotonic() + 10
    while offline.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert offline.calls == 1 and calls == ["a"]
    assert engine.passages_for(question) == [] and calls == ["a"], "retrieval is cached per question"


def test_practice_level_starts_at_associate_and_rises_only_on_enough_good_recent_scores():
    assert practice_level({}) is Level.associate
    assert practice_level({"associate": [9.0, 9.0]}) is Level.associate, "two answers are too few"
    assert practice_level({"associate": [8.0, 7.0, 7.5]}) is Level.professional
    assert practice_level({"associate": [9.0, 9.0, 2.0, 3.0, 4.0]}) is Level.associate, "mean 5.4 of the last five"
    assert practice_level({"associate": [8.0] * 3, "professional": [7.0] * 4}) is Level.architect
    assert practice_level({"professional": [9.0] * 5}) is Level.associate, "levels open in order"


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


def test_after_a_grade_the_session_waits_for_next_and_keeps_text_typed_meanwhile(
    history: History, settings: Settings
):
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
