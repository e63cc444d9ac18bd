"""`grade_answer`: checks the answer, retrieves reference passages, runs a grader, returns one Grade."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rag.errors import ConfigError
from rag.grading.base import Grader, minimum_grade
from rag.grading.files import PromptFiles
from rag.grading.guard import prepare_answer
from rag.grading.result import Grade
from rag.passage import Passage
from rag.questions import Question
from rag.retrieval import search
from rag.settings import Settings, get_settings
from rag.store import VectorStore


def make_grader(name: str | None = None, settings: Settings | None = None) -> Grader:
    """The offline or LLM grader; `None` picks the active one from settings."""
    settings = settings or get_settings()
    choice = name or settings.active_grader
    if choice == "offline":
        from rag.grading.offline import OfflineGrader

        return OfflineGrader(files=PromptFiles.from_settings(settings))
    if choice == "llm":
        if not settings.llm_configured:
            raise ConfigError("the LLM grader needs OPENAI_API_KEY or OPENAI_BASE_URL; set one or use --grader offline")
        from rag.grading.llm import LLMGrader

        return LLMGrader(settings, files=PromptFiles.from_settings(settings))
    raise ConfigError(f"unknown grader '{choice}'; choose offline or llm")


def retrieve_passages(question: Question, store: VectorStore | None, k: int) -> list[Passage]:
    """Reference passages for a question: the best sections for its text (empty when no store is given)."""
    if store is None:
        return []
    return search(store, question.question, k=k)


def grade_answer(
    question: Question,
    answer: str | None,
    grader: Grader | None = None,
    *,
    store: VectorStore | None = None,
    passages: Sequence[Passage] | None = None,
    settings: Settings | None = None,
) -> Grade:
    """Grade one answer. Bad input never raises: it gets the minimum score or an unscored grade."""
    settings = settings or get_settings()
    started = time.perf_counter()
    grader = grader or make_grader(settings=settings)
    files = PromptFiles.from_settings(settings)
    prepared = prepare_answer(answer, settings.max_answer_chars, files.guard_rules())
    retrieval_started = time.perf_counter()
    if passages is None:
        passages = retrieve_passages(question, store, settings.retrieval_k)
    retrieval_ms = (time.perf_counter() - retrieval_started) * 1000
    grading_started = time.perf_counter()
    if prepared.kind in ("empty", "dont-know"):
        grade = minimum_grade(
            question,
            prepared.kind,
            grader=grader.name,
            model=grader.model,
            passages=passages,
            rubric=files.rubric(),
            templates=files.feedback(),
        )
    else:
        grade = grader.grade(question, prepared.text, passages)
    now = time.perf_counter()
    return grade.model_copy(
        update={
            "notices": [*prepared.notices, *grade.notices],
            "injection_signals": sorted(set(prepared.injection_signals) | set(grade.injection_signals)),
            "truncated": prepared.truncated,
            "answer_chars": prepared.original_chars,
            "timings_ms": {
                "retrieval": round(retrieval_ms, 2),
                "grading": round((now - grading_started) * 1000, 2),
                "total": round((now - started) * 1000, 2),
                **grade.timings_ms,
            },
        }
    )
