"""The interview loop without any UI: question choice, spaced repetition, hints, follow-ups, grading with fallback.

The Streamlit pages are a thin layer over `InterviewSession` and `Engine`. Nothing here imports
Streamlit, and nothing imports the embedding model or Chroma at module level, so the first question
can be shown before the slow parts have loaded.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from fsrs import Card, Rating, Scheduler

from rag.errors import PrepError, StoreError
from rag.history import History, normalise_user, utc_now
from rag.questions import Level, Question, QuestionBank
from rag.settings import Settings
from rag.summary import RECENT_LIMIT, SUMMARY_EVERY, SessionSummary, summarise

if TYPE_CHECKING:
    from rag.grading.base import Grader
    from rag.grading.result import Grade
    from rag.retrieval import Passage
    from rag.store import IngestReport, VectorStore

log = logging.getLogger(__name__)

SCHEDULER = Scheduler(enable_fuzzing=False)
RATING_BOUNDS: tuple[tuple[float, Rating], ...] = ((4.0, Rating.Again), (6.5, Rating.Hard), (8.5, Rating.Good))
FOLLOW_UP_BELOW = 8.5
NEUTRAL_TOPIC_MEAN = 5.0
PASSAGE_CACHE_SIZE = 512
PREFETCH_WAIT_S = 600
NO_MATCH = "No questions match these filters. Widen the topics or levels in the sidebar."
NO_OPEN_QUESTION = (
    "That was not graded: no question is open. Press Next question (or type next) for the next one; "
    "your text is kept above."
)
FILTER_EXHAUSTED = (
    "That was the only question left in these filters, so here is one from outside them. "
    "Widen the topics or levels in the sidebar for more."
)
LEVEL_ORDER: tuple[Level, ...] = (Level.associate, Level.professional, Level.architect)
LEVEL_UP_ANSWERS = 3
"""Scored answers at a level needed before questions of the next level are asked."""
LEVEL_UP_MEAN = 7.0
"""The mean of the newest LEVEL_WINDOW scores at a level that opens the next level."""
LEVEL_WINDOW = 5

# ---------------------------------------------------------------- spaced repetition


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


# ---------------------------------------------------------------- hints and follow-ups

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


# ---------------------------------------------------------------- grading


def retrieve(question: Question, store: VectorStore | None, settings: Settings) -> list[Passage]:
    from rag.grading.service import retrieve_passages

    return retrieve_passages(question, store, settings.retrieval_k)


def grade_with_fallback(
    question: Question,
    answer: str,
    primary: Grader,
    fallback: Grader | None,
    *,
    store: VectorStore | None = None,
    passages: Sequence[Passage] | None = None,
    settings: Settings,
) -> tuple[Grade, bool]:
    """Grade with the primary grader; if it gives no score (or fails), grade again offline, with a notice.

    Returns the grade and whether it came from the fallback. Never raises for a grader failure.
    """
    from rag.grading.base import unscored_grade
    from rag.grading.service import grade_answer

    if passages is None:
        passages = retrieve(question, store, settings)

    def run(grader: Grader) -> Grade:
        try:
            return grade_answer(question, answer, grader, passages=passages, settings=settings)
        except Exception as exc:
            log.exception("grader %s failed", getattr(grader, "name", "?"))
            reason = str(exc) if isinstance(exc, PrepError) else f"{type(exc).__name__} in the {grader.name} grader"
            return unscored_grade(question, reason, grader=grader.name, model=grader.model, passages=passages)

    grade = run(primary)
    if grade.scored or fallback is None or fallback is primary or fallback.name == primary.name:
        return grade, False
    second = run(fallback)
    reason = grade.unscored_reason or "no score"
    second.notices.insert(
        0,
        f"The {primary.name} grader ({primary.model}) could not grade this answer ({reason}); "
        f"this grade comes from the {fallback.name} grader instead.",
    )
    return second, True


# ---------------------------------------------------------------- the engine: model, index, graders


def display_endpoint(base_url: str | None) -> str:
    """The endpoint without credentials or query string, fit for a sidebar."""
    if not base_url:
        return "api.openai.com"
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else base_url.split("?")[0]


IndexState = Literal["loading", "ready", "empty", "incomplete", "damaged", "unavailable"]
GraderFactory = Callable[[str, Settings], "Grader"]


_background: list[threading.Thread] = []
_background_lock = threading.Lock()
_stopping = threading.Event()
SHUTDOWN_JOIN_S = 30.0


def _spawn(target: Callable[..., None], *args: Any, name: str) -> threading.Thread:
    """A daemon thread that interpreter exit waits for (see `_join_background`)."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with _background_lock:
        _background[:] = [t for t in _background if t.is_alive()]
        _background.append(thread)
    thread.start()
    return thread


@atexit.register
def _join_background() -> None:
    """Let model loading and prefetching finish before the interpreter exits: torch and Chroma abort the
    process if their native code is still running in a daemon thread while Python finalises."""
    _stopping.set()
    deadline = time.monotonic() + SHUTDOWN_JOIN_S
    with _background_lock:
        threads = list(_background)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _default_grader_factory(name: str, settings: Settings) -> Grader:
    from rag.grading.service import make_grader

    return make_grader(name, settings)


def _default_store_factory(settings: Settings) -> VectorStore:
    from rag.store import VectorStore

    return VectorStore(settings)


class Engine:
    """The slow parts (embedding model, index, graders), loaded in a background thread at startup.

    The UI shows the first question straight from the YAML bank and only waits on the engine when an
    answer is graded. A missing or damaged index is reported as `index_state` and rebuilt by `rebuild`
    (called from the UI, which shows a progress bar).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        grader_factory: GraderFactory = _default_grader_factory,
        store_factory: Callable[[Settings], VectorStore] = _default_store_factory,
        warm_embedder: bool = True,
        start: bool = True,
    ) -> None:
        self.settings = settings
        self._grader_factory = grader_factory
        self._store_factory = store_factory
        self._warm_embedder = warm_embedder
        self._loaded = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self.store: VectorStore | None = None
        self.index_state: IndexState = "loading"
        self.index_problem: str = ""
        self.primary: Grader | None = None
        self.fallback: Grader | None = None
        self.grader_problem: str = ""
        self._passages: dict[str, list[Passage]] = {}
        self._prefetched: set[tuple[str, ...]] = set()
        if start:
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = _spawn(self._load, name="prep-engine-warmup")

    def wait(self, timeout: float | None = None) -> bool:
        self.start()
        return self._loaded.wait(timeout)

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    @property
    def needs_rebuild(self) -> bool:
        return self.index_state in ("empty", "incomplete", "damaged")

    def _load(self) -> None:
        try:
            self._load_graders()
            if self._warm_embedder and not _stopping.is_set():
                try:
                    from rag.embeddings import get_embedder

                    get_embedder()
                except PrepError as exc:
                    self.index_problem = str(exc)
                if not _stopping.is_set():
                    self._warm_graders()
            if not _stopping.is_set():
                self._open_store()
        except Exception as exc:
            log.exception("engine warm-up failed")
            self.index_state = "unavailable"
            self.index_problem = self.index_problem or f"{type(exc).__name__}: {exc}"
        finally:
            self._loaded.set()

    def _load_graders(self) -> None:
        try:
            self.fallback = self._grader_factory("offline", self.settings)
        except Exception as exc:
            log.exception("the offline grader cannot be loaded")
            self.grader_problem = f"the offline grader cannot be loaded ({type(exc).__name__}: {exc})"
        active = self.settings.active_grader
        if active == "offline":
            self.primary = self.fallback
            return
        try:
            self.primary = self._grader_factory(active, self.settings)
        except Exception as exc:
            log.exception("the %s grader cannot be loaded", active)
            self.grader_problem = f"the {active} grader cannot be loaded ({exc}); grading offline"
            self.primary = self.fallback

    def _warm_graders(self) -> None:
        """Build what graders load lazily (the offline grader's matcher) here, off the first answer's path."""
        for grader in {id(g): g for g in (self.primary, self.fallback) if g is not None}.values():
            try:
                getattr(grader, "matcher", None)
            except Exception:
                log.warning("warming the %s grader failed", getattr(grader, "name", "?"), exc_info=True)

    def _open_store(self) -> None:
        with self._lock:
            try:
                store = self._store_factory(self.settings)
                count = store.count()
                unfinished = store.completeness_problem() if count > 0 else None
            except StoreError as exc:
                self.store, self.index_state, self.index_problem = None, "damaged", str(exc)
                return
            self.store = store
            if count == 0:
                self.index_state, self.index_problem = "empty", "the index is empty"
            elif unfinished:
                self.index_state, self.index_problem = "incomplete", unfinished
            else:
                self.index_state, self.index_problem = "ready", ""

    def mark_damaged(self, problem: str) -> None:
        with self._lock:
            self.index_state, self.index_problem = "damaged", problem
            self._passages.clear()

    def passages_for(self, question: Question) -> list[Passage]:
        """The question's reference passages (retrieval depends only on the question, so it is cached)."""
        cached = self._passages.get(question.id)
        if cached is not None:
            return cached
        if self.store is None or self.index_state != "ready":
            return []
        passages = retrieve(question, self.store, self.settings)
        if len(self._passages) >= PASSAGE_CACHE_SIZE:
            self._passages.clear()
        self._passages[question.id] = passages
        return passages

    def prefetch(self, question: Question, target: Question | None = None) -> None:
        """Prepare the next grade in the background while the candidate reads and types: retrieve the
        question's passages and let the offline grader encode the key points it will check."""
        target = target or question
        key = (question.id, *(kp.id for kp in target.key_points))
        with self._lock:
            if key in self._prefetched:
                return
            self._prefetched.add(key)
        _spawn(self._prefetch, question, target, name="prep-prefetch")

    def _prefetch(self, question: Question, target: Question) -> None:
        if not self.wait(PREFETCH_WAIT_S) or self.needs_rebuild:
            return
        try:
            passages = self.passages_for(question)
        except PrepError:
            passages = []
        grader = self.fallback
        if grader is None or grader.name != "offline" or _stopping.is_set():
            return
        try:
            grader.grade(target, target.key_points[0].text, passages)
        except Exception:
            log.debug("prefetch grading failed", exc_info=True)

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> IngestReport:
        """Rebuild the index from the corpus, moving a damaged local index aside first (it is kept).

        An incomplete index (an ingest that did not finish) is not moved: ingest adds what is missing."""
        from rag.corpus import load_corpus
        from rag.store import move_aside

        with self._lock:
            if self.index_state == "damaged" and not self.settings.chroma_host:
                self._release_local_store()
                move_aside(self.settings.chroma_dir)
            self._passages.clear()
            try:
                store = self._store_factory(self.settings)
                report = store.ingest(load_corpus(self.settings.corpus_dir), progress=progress)
            except StoreError as exc:
                self.store, self.index_state, self.index_problem = None, "damaged", str(exc)
                raise
            self.store, self.index_state, self.index_problem = store, "ready", ""
            return report

    def _release_local_store(self) -> None:
        """Forget Chroma's cached client for the index folder, so the rebuilt index is opened fresh."""
        store, self.store = self.store, None
        if store is not None:
            try:
                store.client.close()
            except Exception:
                log.debug("closing the damaged index failed", exc_info=True)
        try:
            from chromadb.api.shared_system_client import SharedSystemClient

            path = str(self.settings.chroma_dir)
            for identifier in [i for i in SharedSystemClient._identifier_to_system if i == path]:
                system = SharedSystemClient._identifier_to_system.pop(identifier)
                SharedSystemClient._identifier_to_refcount.pop(identifier, None)
                try:
                    system.stop()
                except Exception:
                    log.debug("stopping the damaged index's system failed", exc_info=True)
        except ImportError:
            pass

    def grader_label(self) -> str:
        """What grades answers, for the sidebar: "offline" or "LLM <model> @ <endpoint>"."""
        if self.settings.active_grader == "llm" and (not self.loaded or self.primary is not self.fallback):
            endpoint = getattr(self.primary, "endpoint", None) or display_endpoint(self.settings.openai_base_url)
            return f"LLM {self.settings.llm_model} @ {endpoint}"
        return "offline"


# ---------------------------------------------------------------- the interview session

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


def command_for(text: str) -> str | None:
    """The command a typed message means ("hint", "skip", "next", "idk"), or None for an answer."""
    from rag.grading.guard import prepare_answer

    normalised = " ".join(re.sub(r"[^\w\s']+", " ", text.lower()).split())
    if normalised in COMMANDS:
        return COMMANDS[normalised]
    if text.strip() and prepare_answer(text).kind == "dont-know":
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
        from rag.grading.result import Grade

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
    ) -> None:
        self.user = normalise_user(user)
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
        if self.paused or self.current is None:
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
        from rag.grading.base import minimum_grade

        question = self.question()
        if question is None or self.current is None:
            return None
        self.turns.append(Turn("user", "answer" if typed else "command", text=typed or "I don't know."))
        grade = minimum_grade(question, "dont-know", grader="rules", model="dont-know")
        if self.current.mode == "followup":  # stored as a follow-up attempt at 0; the follow-up rates no card
            self.history.record_attempt(
                self.user, question_id=question.id, topic=question.topic, level=question.level.value,
                kind="followup", answer=typed or "", grade_json=grade.model_dump_json(), grader=grade.grader,
                model=grade.model, score=grade.score, status=grade.status, hints=self.current.hints,
                parent_attempt_id=self.current.parent_attempt_id,
                card_update=card_updater(question.id, rating_for(grade.score, "followup"), self.clock()),
            )  # fmt: skip
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

    def _record_follow_up(self, question: Question, answer: str, grade: Grade, fell_back: bool) -> Turn:
        """Store a follow-up answer as itself, linked to the answer that led to it. It updates no card: the
        parent's card was rated by the main answer (`rating_for` gives follow-ups no rating)."""
        current = self.current
        attempt_id = self.history.record_attempt(
            self.user, question_id=question.id, topic=question.topic, level=question.level.value, kind="followup",
            answer=answer, grade_json=grade.model_dump_json(), grader=grade.grader, model=grade.model,
            score=grade.score if grade.scored else None, status=grade.status, fell_back=fell_back,
            hints=current.hints if current else 0, parent_attempt_id=current.parent_attempt_id if current else None,
            card_update=card_updater(question.id, rating_for(grade.score, "followup"), self.clock()),
        )  # fmt: skip
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
