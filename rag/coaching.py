"""Hints and follow-ups: the nudge written for a key point, and which follow-up a grade calls for."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.questions import Question

if TYPE_CHECKING:
    from rag.grading.result import Grade


FOLLOW_UP_BELOW = 8.5


_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from into onto over under about as is are was were be been
    being it its it's this that these those there their them they you your we our i he she his her not no only
    can could should would will may might must do does did done has have had than then so such each every any all
    more most less least very also just per via when where which who whom what how why while within without
    between after before during up down out off one""".split()  # noqa: SIM905
)


def _content_key(word: str) -> str:
    return word.lower().strip("'’")


GENERIC_HINT = "Think about what else an interviewer would expect here that you have not said yet."
"""For a key point without a written hint (only key points derived in code lack one; the bank requires it)."""


def hint_for(question: Question, hints_given: int, skip_ids: set[str] | None = None) -> str | None:
    """The n-th hint: the nudge written for a key point (`KeyPoint.hint`), heaviest key points first.

    Points in `skip_ids` (already covered) get no hint; None once every remaining point has had one.
    """
    skip_ids = skip_ids or set()
    ordered = sorted(
        (kp for kp in question.key_points if kp.id not in skip_ids),
        key=lambda kp: (-kp.weight, question.key_points.index(kp)),
    )
    if hints_given >= len(ordered):
        return None
    point = ordered[hints_given]
    return point.hint or GENERIC_HINT


def _words(text: str) -> set[str]:
    return {_content_key(w) for w in re.findall(r"[\w'’-]+", text)} - _STOPWORDS


def should_follow_up(question: Question, grade: Grade, already_asked: bool) -> bool:
    return (
        not already_asked
        and bool(question.follow_ups)
        and grade.scored
        and grade.score is not None
        and grade.score < FOLLOW_UP_BELOW
        and bool(grade.missed_points() or [kp for kp in grade.key_points if kp.verdict.value == "partly"])
    )


def pick_follow_up(question: Question, grade: Grade) -> Question:
    """The follow-up whose key points share the most words with what was missed (the first one on a tie)."""
    missed = set().union(*(_words(kp.text) for kp in grade.key_points if kp.verdict.value != "covered"))
    scored = [
        (len(set().union(*(_words(kp.text) for kp in follow_up.key_points)) & missed), -index)
        for index, follow_up in enumerate(question.follow_ups)
    ]
    return question.follow_ups[-max(scored)[1]]
