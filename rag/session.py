"""The interview loop without any UI: the question on screen, the transcript, hints, skips, follow-ups, and
pausing on a grade until the candidate asks for the next question.

The Streamlit pages are a thin layer over `InterviewSession` (here) and `Engine` (rag/engine.py). Nothing here
imports Streamlit."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from rag.coaching import hint_for, pick_follow_up, should_follow_up
from rag.grading.base import minimum_grade
from rag.grading.files import PromptFiles
from rag.grading.guard import prepare_answer
from rag.grading.result import Grade
from rag.history import History, normalise_user, utc_now
from rag.questions import Level, Question, QuestionBank
from rag.scheduling import (
    LEVEL_ORDER,
    LEVEL_WINDOW,
    card_updater,
    choose_question,
    due_times,
    practice_level,
    rating_for,
)
from rag.summary import RECENT_LIMIT, SUMMARY_EVERY, SessionSummary, summarise

NO_MATCH = "No questions match these filters. Widen the topics or levels in the sidebar."
NO_OPEN_QUESTION = (
    "That was not graded: no question is open. Press Next question (or type next) for the next one; "
    "your text is kept above."
)
FILTER_EXHAUSTED = (
    "That was the only question left in these filters, so here is one from outside them. "
    "Widen the topics or levels in the sidebar for more."
)


COMMANDS = {
    "hint": "hint",
    "a hint": "hint",
    "give me a hint": "hint",
    "hint please": "hint",
    "skip": "skip",
    "skip it": "skip",
    "skip this": "skip",
    "skip question": "skip",
    "next": "next",
    "next question": "next",
    "move on": "next",
    "again": "again",
    "try again": "again",
    "let me try again": "again",
    "summary": "summary",
    "session summary": "summary",
}


def command_for(text: str, files: PromptFiles | None = None) -> str | None:
    """The command a typed message means ("hint", "skip", "next", "idk"), or None for an answer; "I don't
    know" in other words is found by the guard's phrases in `files` (default: the shipped ones)."""
    normalised = " ".join(re.sub(r"[^\w\s']+", " ", text.lower()).split())
    if normalised in COMMANDS:
        return COMMANDS[normalised]
    if text.strip() and prepare_answer(text, rules=(files or PromptFiles()).guard_rules()).kind == "dont-know":
        return "idk"
    return None


@dataclass
class Turn:
    """One chat message. Grades are kept as JSON so a turn can be re-rendered on every rerun."""

    role: Literal["assistant", "user"]
    kind: str
    text: str = ""
    question_id: str | None = None
    grade_json: str | None = None
    fell_back: bool = False
    attempt_id: int | None = None
    number: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def grade(self) -> Grade | None:
        return Grade.model_validate_json(self.grade_json) if self.grade_json else None


@dataclass
class Current:
    """The question on screen: a main question (mode "answer") or a follow-up (mode "followup", `question_id`
    is the follow-up's own id and `parent_attempt_id` the stored answer to its main question)."""

    question_id: str
    mode: Literal["answer", "followup"] = "answer"
    hints: int = 0
    parent_attempt_id: int | None = None


class InterviewSession:
    """One candidate's conversation: the current question, the transcript and what to ask next."""

    def __init__(
        self,
        user: str,
        bank: QuestionBank,
        history: History,
        *,
        topics: Sequence[str] = (),
        levels: Sequence[str] = (),
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
        files: PromptFiles | None = None,
    ) -> None:
        """`files`: the rubric and feedback templates of an "I don't know" grade (default: the shipped ones)."""
        self.user = normalise_user(user)
        self.files = files or PromptFiles()
        self.bank = bank
        self.history = history
        self.topics = list(topics)
        self.levels = list(levels)
        self.rng = rng or random.Random()
        self.clock = clock
        self.turns: list[Turn] = []
        self.current: Current | None = None
        self.last_question_id: str | None = None
        self.asked = 0
        self.last_notice: str = ""
        self.last_graded_id: str | None = None
        """The main question graded last, which "Try again" asks once more."""
        self.scored_answers = 0
        self.started_at = clock()
        self.paused = False
        """A grade (or a model answer) is the last thing on screen, and the next question waits for "Next"."""

    # -- question flow

    def candidates(self) -> list[Question]:
        """The questions to draw from: the sidebar's filters; without a level filter, levels up to the candidate's
        own (`practice_level`), or every level of the chosen topics when none of those is at or below it."""
        if self.levels:
            return self.bank.filter(self.topics or None, self.levels)
        in_topics = self.bank.filter(self.topics or None, None)
        reached = LEVEL_ORDER.index(self.level())
        return [q for q in in_topics if LEVEL_ORDER.index(q.level) <= reached] or in_topics

    def level(self) -> Level:
        """The candidate's practice level, from their recent scores (see `practice_level`)."""
        return practice_level(self.history.recent_scores_by_level(self.user, LEVEL_WINDOW))

    def matches_filters(self, question: Question) -> bool:
        return (not self.topics or question.topic in self.topics) and (
            not self.levels or question.level.value in self.levels
        )

    def question(self) -> Question | None:
        if self.current is None:
            return None
        try:
            return self.bank.get(self.current.question_id)
        except KeyError:
            return None

    def start(self) -> Question | None:
        """Resume the question left unanswered (refresh, restart) or ask a new one."""
        recent = self.history.attempts_for(self.user, limit=1)
        if recent:
            self.last_question_id = recent[-1].question_id
        pending = self.history.pending(self.user)
        if pending:
            try:
                question = self.bank.get(str(pending.get("question_id")))
            except KeyError:
                question = None
            if question is not None and question.parent is None and self.matches_filters(question):
                self._ask(question, resumed=True, hints=int(pending.get("hints", 0) or 0))
                return question
        return self.ask_next()

    def pause(self) -> None:
        """Leave the grade just given as the last thing on screen: the next question waits for `next_question`,
        so the score and feedback do not scroll away under it."""
        if self.current is not None:
            self.last_question_id = self._main_id()
        self.current = None
        self.paused = True
        self.history.set_pending(self.user, None)

    def next_question(self) -> Question | None:
        """ "Next": after a grade, the next question; on a question or follow-up, the same as Skip."""
        if self.current is None:  # paused on a grade (or nothing matched the filters)
            self.turns.append(Turn("user", "command", text="Next question, please."))
            return self.ask_next()
        self.skip()
        return self.question()

    def ask_next(self, *, moving_on: bool = False) -> Question | None:
        """Ask the next question. With `moving_on` (Skip), never the current one again: when it is the only
        question in the filters, ask one from outside them and say so."""
        candidates = self.candidates()
        avoid = self._main_id() if self.current else self.last_question_id
        notice = None
        if moving_on and candidates and all(q.id == avoid for q in candidates):
            widened = [q for q in self.bank.questions if q.id != avoid]
            if widened:
                candidates, notice = widened, FILTER_EXHAUSTED
        question = choose_question(
            candidates,
            due_times(self.history.cards_for(self.user)),
            {m.topic: m.mean_score for m in self.history.topic_means(self.user)},
            avoid,
            self.clock(),
            self.rng,
        )
        if question is None:
            self.current = None
            self.history.set_pending(self.user, None)
            self.turns.append(Turn("assistant", "info", text=NO_MATCH))
            return None
        if notice:
            self.turns.append(Turn("assistant", "info", text=notice))
        self._ask(question)
        return question

    def _main_id(self) -> str | None:
        """The main question on screen (a follow-up's parent), or None."""
        if self.current is None:
            return None
        try:
            return self.bank.main_question(self.current.question_id).id
        except KeyError:
            return self.current.question_id

    def _ask(self, question: Question, resumed: bool = False, hints: int = 0, again: bool = False) -> None:
        if self.current is not None:
            self.last_question_id = self._main_id()
        self.paused = False
        self.current = Current(question_id=question.id, hints=hints)
        self.asked += 1
        meta: dict[str, Any] = {
            "topic": question.topic, "level": question.level.value, "resumed": resumed, "again": again,
        }  # fmt: skip
        last = self.history.last_scored(self.user, question.id)
        if last is not None and last.score is not None:
            meta["last_score"], meta["last_at"] = last.score, last.created_at
        self.turns.append(
            Turn("assistant", "question", text=question.question, question_id=question.id, number=self.asked,
                 meta=meta)
        )  # fmt: skip
        self.history.set_pending(self.user, {"question_id": question.id, "hints": hints})

    def set_filters(self, topics: Sequence[str], levels: Sequence[str]) -> bool:
        """Apply new sidebar filters from the next question on: the question on screen stays, so a candidate
        never loses an answer in progress. True if the filters changed."""
        topics, levels = list(topics), list(levels)
        if topics == self.topics and levels == self.levels:
            return False
        self.topics, self.levels = topics, levels
        if self.current is None and not self.paused:
            self.ask_next()
        return True

    # -- candidate actions

    def hint(self) -> str | None:
        question = self.question()
        if question is None or self.current is None:
            return None
        text = hint_for(question, self.current.hints)
        self.turns.append(Turn("user", "command", text="Hint, please."))
        if text is None:
            self.turns.append(Turn("assistant", "hint", text="", question_id=question.id, meta={"exhausted": True}))
            return None
        self.current.hints += 1
        self.turns.append(Turn("assistant", "hint", text=text, question_id=question.id))
        if self.current.mode == "answer":
            self.history.set_pending(self.user, {"question_id": question.id, "hints": self.current.hints})
        return text

    def summary(self) -> SessionSummary:
        """This session's scores, strongest and weakest key points, and the questions due next."""
        return summarise(
            self.history.attempts_for(self.user, limit=RECENT_LIMIT),
            self.bank,
            due_times(self.history.cards_for(self.user)),
            self.started_at,
        )

    def show_summary(self) -> SessionSummary:
        """Add the session summary to the conversation (on demand, and after every SUMMARY_EVERY answers)."""
        found = self.summary()
        self.turns.append(Turn("assistant", "summary", meta={"summary": found}))
        return found

    def _count_scored(self) -> None:
        self.scored_answers += 1
        if self.scored_answers % SUMMARY_EVERY == 0:
            self.show_summary()

    def can_try_again(self) -> bool:
        """A main question was graded, and its grade or another main question is on screen."""
        if self.last_graded_id is None:
            return False
        if self.current is None:
            return self.paused
        return self.current.mode == "answer" and self.current.question_id != self.last_graded_id

    def try_again(self) -> Question | None:
        """Ask the question graded last once more, as a new attempt. A question on screen was not answered, so
        it is put back without a rating. None when there is nothing to try again."""
        if not self.can_try_again():
            return None
        try:
            question = self.bank.get(str(self.last_graded_id))
        except KeyError:
            return None
        self.turns.append(Turn("user", "command", text="Let me try that one again."))
        self._ask(question, again=True)
        return question

    def skip(self) -> None:
        """Skip the current question (rated Again) or, during a follow-up, just move on."""
        question = self.question()
        if question is None or self.current is None:
            self.ask_next()
            return
        if self.current.mode == "followup":
            self.turns.append(Turn("user", "command", text="Next question, please."))
            self.ask_next(moving_on=True)
            return
        self.turns.append(Turn("user", "command", text="Skip this one."))
        self.history.record_attempt(
            self.user, question_id=question.id, topic=question.topic, level=question.level.value, kind="skip",
            hints=self.current.hints, card_update=card_updater(question.id, rating_for(None, "skip"), self.clock()),
        )  # fmt: skip
        self.ask_next(moving_on=True)

    def dont_know(self, typed: str | None = None) -> Grade | None:
        """ "I don't know": the model answer is shown and the attempt counts as 0 (on a follow-up, too: it is
        stored linked to its parent, and rates no card)."""
        question = self.question()
        if question is None or self.current is None:
            return None
        self.turns.append(Turn("user", "answer" if typed else "command", text=typed or "I don't know."))
        grade = minimum_grade(
            question,
            "dont-know",
            grader="rules",
            model="dont-know",
            rubric=self.files.rubric(),
            templates=self.files.feedback(),
        )
        if self.current.mode == "followup":  # stored as a follow-up attempt at 0; the follow-up rates no card
            self._store_follow_up(question, typed or "", grade, fell_back=False)
            self.turns.append(Turn("assistant", "model-answer", text=question.model_answer, question_id=question.id))
            self.pause()
            return None
        attempt_id = self.history.record_attempt(
            self.user, question_id=question.id, topic=question.topic, level=question.level.value, kind="idk",
            answer=typed or "", grade_json=grade.model_dump_json(), grader=grade.grader, model=grade.model,
            score=grade.score, status=grade.status, hints=self.current.hints,
            card_update=card_updater(question.id, rating_for(grade.score, "idk"), self.clock()),
        )  # fmt: skip
        self.turns.append(
            Turn("assistant", "idk", question_id=question.id, grade_json=grade.model_dump_json(), attempt_id=attempt_id)
        )
        self.last_graded_id = question.id
        self._count_scored()
        self.pause()
        return grade

    def answer_without_question(self, text: str) -> None:
        """Text typed while no question is open (after a grade): kept in the transcript, not graded."""
        self.turns.append(Turn("user", "answer", text=text))
        self.turns.append(Turn("assistant", "info", text=NO_OPEN_QUESTION))

    def record_answer(self, answer: str, grade: Grade, fell_back: bool) -> Turn:
        """Store a graded answer to the current question, then ask a follow-up or pause on the grade."""
        question = self.question()
        assert question is not None and self.current is not None, "no question is being asked"
        if self.current.mode == "followup":
            return self._record_follow_up(question, answer, grade, fell_back)
        rating = rating_for(grade.score if grade.scored else None, "answer", self.current.hints)
        attempt_id = self.history.record_attempt(
            self.user, question_id=question.id, topic=question.topic, level=question.level.value, kind="answer",
            answer=answer, grade_json=grade.model_dump_json(), grader=grade.grader, model=grade.model,
            score=grade.score if grade.scored else None, status=grade.status, fell_back=fell_back,
            hints=self.current.hints, card_update=card_updater(question.id, rating, self.clock()),
        )  # fmt: skip
        turn = Turn("assistant", "grade", question_id=question.id, grade_json=grade.model_dump_json(),
                    fell_back=fell_back, attempt_id=attempt_id)  # fmt: skip
        self.turns.append(turn)
        self.last_graded_id = question.id
        self.last_notice = self._notice(grade, fell_back)
        if grade.scored:
            self._count_scored()
        if should_follow_up(question, grade, already_asked=False):
            follow_up = pick_follow_up(question, grade)
            self.current = Current(question_id=follow_up.id, mode="followup", parent_attempt_id=attempt_id)
            self.history.set_pending(self.user, None)
            self.turns.append(Turn("assistant", "followup", text=follow_up.question, question_id=follow_up.id))
        else:
            self.pause()
        return turn

    def _store_follow_up(self, question: Question, answer: str, grade: Grade, fell_back: bool) -> int:
        """Store a follow-up attempt as itself, linked to the answer that led to it. It updates no card: the
        parent's card was rated by the main answer (`rating_for` gives follow-ups no rating)."""
        current = self.current
        return self.history.record_attempt(
            self.user, question_id=question.id, topic=question.topic, level=question.level.value, kind="followup",
            answer=answer, grade_json=grade.model_dump_json(), grader=grade.grader, model=grade.model,
            score=grade.score if grade.scored else None, status=grade.status, fell_back=fell_back,
            hints=current.hints if current else 0, parent_attempt_id=current.parent_attempt_id if current else None,
            card_update=card_updater(question.id, rating_for(grade.score, "followup"), self.clock()),
        )  # fmt: skip

    def _record_follow_up(self, question: Question, answer: str, grade: Grade, fell_back: bool) -> Turn:
        """Store a graded follow-up answer, show its grade and pause on it."""
        attempt_id = self._store_follow_up(question, answer, grade, fell_back)
        turn = Turn("assistant", "followup-grade", question_id=question.id, grade_json=grade.model_dump_json(),
                    fell_back=fell_back, attempt_id=attempt_id)  # fmt: skip
        self.turns.append(turn)
        self.last_notice = self._notice(grade, fell_back)
        self.pause()
        return turn

    def grading_target(self) -> Question | None:
        """What the next answer is graded against: the question on screen, a main question or a follow-up,
        each with its own key points."""
        return self.question()

    @staticmethod
    def _notice(grade: Grade, fell_back: bool) -> str:
        if not grade.scored:
            return f"The last answer is unscored: {grade.unscored_reason or 'the grader gave no score'}."
        if fell_back:
            return "The last grade fell back to the offline grader because the LLM grader gave no score."
        return ""
