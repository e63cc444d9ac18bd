"""The engine (rag/engine.py): graders and index loaded in the background, grading with fallback, prefetch."""

from __future__ import annotations

import time
from pathlib import Path

from rag.engine import Engine, grade_with_fallback
from rag.settings import Settings
from tests.interview_support import (
    FakeGrader,
    _Store,
    make_question,
)


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
    engine = Engine(
        settings, grader_factory=lambda n, s: FakeGrader(n), store_factory=lambda s: store, warm_embedder=False
    )
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


def test_engine_prefetches_passages_and_warms_the_offline_grader_once(settings: Settings, monkeypatch):
    import rag.engine as practice

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
