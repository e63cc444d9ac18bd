"""The slow parts of the app (embedding model, index, graders), loaded in the background, and grading with
fallback. Nothing here imports the embedding model or Chroma at module level, so the first question can be shown
before they have loaded."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from rag.errors import PrepError, StoreError
from rag.grading.base import unscored_grade
from rag.questions import Question
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.grading.base import Grader
    from rag.grading.result import Grade
    from rag.passage import Passage
    from rag.store import IngestReport, VectorStore

log = logging.getLogger(__name__)

PASSAGE_CACHE_SIZE = 512
PREFETCH_WAIT_S = 600


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
    notice = (
        f"The {primary.name} grader ({primary.model}) could not grade this answer ({reason}); "
        f"this grade comes from the {fallback.name} grader instead."
    )
    return second.model_copy(update={"notices": [notice, *second.notices]}), True


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
