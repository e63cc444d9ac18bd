"""Spaced repetition and question choice: FSRS ratings and cards, the candidate's level, the next question."""

from __future__ import annotations

import hashlib
import itertools
import logging
import random
from collections.abc import Sequence
from datetime import UTC, datetime

from fsrs import Card, Rating, Scheduler

from rag.history import utc_now
from rag.questions import Level, Question

log = logging.getLogger(__name__)

SCHEDULER = Scheduler(enable_fuzzing=False)
RATING_BOUNDS: tuple[tuple[float, Rating], ...] = ((4.0, Rating.Again), (6.5, Rating.Hard), (8.5, Rating.Good))
NEUTRAL_TOPIC_MEAN = 5.0
LEVEL_ORDER: tuple[Level, ...] = (Level.associate, Level.professional, Level.architect)
LEVEL_UP_ANSWERS = 3
"""Scored answers at a level needed before questions of the next level are asked."""
LEVEL_UP_MEAN = 7.0
"""The mean of the newest LEVEL_WINDOW scores at a level that opens the next level."""
LEVEL_WINDOW = 5


def rating_for(score: float | None, kind: str = "answer", hints: int = 0) -> Rating | None:
    """The FSRS rating of an attempt; None when there is nothing to rate (an unscored grade, a follow-up)."""
    if kind in ("skip", "idk"):
        return Rating.Again
    if kind != "answer" or score is None:
        return None
    rating = Rating.Easy
    for bound, candidate in RATING_BOUNDS:
        if score < bound:
            rating = candidate
            break
    if hints and rating > Rating.Hard:
        rating = Rating.Hard
    return rating


def _card_id(question_id: str) -> int:
    return int(hashlib.sha256(question_id.encode()).hexdigest()[:12], 16)


def load_card(card_json: str | None, question_id: str) -> Card:
    if card_json:
        try:
            return Card.from_json(card_json)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable card for %s", question_id)
    return Card(card_id=_card_id(question_id), due=datetime(1970, 1, 1, tzinfo=UTC))


def review(card_json: str | None, question_id: str, rating: Rating, now: datetime | None = None) -> tuple[str, str]:
    """The card after one review: (card JSON, next due time as ISO text)."""
    card, _ = SCHEDULER.review_card(load_card(card_json, question_id), rating, review_datetime=now or utc_now())
    return card.to_json(), card.due.isoformat()


def card_updater(question_id: str, rating: Rating | None, now: datetime | None = None):
    """A `History.record_attempt(card_update=...)` callback, or None when the attempt is not rated."""
    if rating is None:
        return None
    return lambda stored: review(stored, question_id, rating, now)


def due_times(cards: dict[str, str]) -> dict[str, datetime]:
    result = {}
    for question_id, card_json in cards.items():
        result[question_id] = load_card(card_json, question_id).due
    return result


def practice_level(recent_scores: dict[str, list[float]]) -> Level:
    """The highest level the candidate has reached: everyone starts at associate; a level opens the next one
    once it has LEVEL_UP_ANSWERS scored answers whose newest LEVEL_WINDOW average at least LEVEL_UP_MEAN."""
    level = LEVEL_ORDER[0]
    for below, above in itertools.pairwise(LEVEL_ORDER):
        scores = recent_scores.get(below.value, [])[:LEVEL_WINDOW]
        if len(scores) < LEVEL_UP_ANSWERS or sum(scores) / len(scores) < LEVEL_UP_MEAN:
            break
        level = above
    return level


def topic_weight(mean_score: float | None) -> float:
    """Weak topics are drawn up to three times as often as mastered ones; unpractised topics sit in between."""
    mean = NEUTRAL_TOPIC_MEAN if mean_score is None else max(0.0, min(10.0, mean_score))
    return 1.0 + (10.0 - mean) / 5.0


def choose_question(
    candidates: Sequence[Question],
    due: dict[str, datetime],
    topic_means: dict[str, float],
    last_id: str | None,
    now: datetime,
    rng: random.Random,
) -> Question | None:
    """Due questions first (most overdue), then unseen ones weighted toward weak topics, then the next due.

    Never the question asked last, unless it is the only candidate.
    """
    if not candidates:
        return None
    pool = [q for q in candidates if q.id != last_id] or list(candidates)
    overdue = sorted((due[q.id], q.id, q) for q in pool if q.id in due and due[q.id] <= now)
    if overdue:
        return overdue[0][2]
    unseen = [q for q in pool if q.id not in due]
    if unseen:
        weights = [topic_weight(topic_means.get(q.topic)) for q in unseen]
        return rng.choices(unseen, weights=weights, k=1)[0]
    return min(pool, key=lambda q: (due[q.id], q.id))
