"""Helpers shared by the AppTest and browser tests: one real index per test session, copied per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from rag.settings import PROJECT_ROOT

_lock = threading.Lock()
_built: Path | None = None


def prebuilt_data_dir() -> Path:
    """A data directory holding the real Chroma index of the corpus, built once per test session.

    Built by `python -m rag ingest` in a separate process, so the index on disk is complete and closed
    before tests copy it.
    """
    global _built
    with _lock:
        if _built is None:
            target = Path(tempfile.mkdtemp(prefix="prep-app-index-")) / "data"
            env = {**os.environ, "PREP_DATA_DIR": str(target)}
            for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHROMA_HOST", "PREP_GRADER"):
                env.pop(name, None)
            subprocess.run(
                [sys.executable, "-m", "rag", "ingest", "--quiet"], cwd=PROJECT_ROOT, env=env, check=True, timeout=600
            )
            _built = target
        return _built


def fresh_data_dir(destination: Path) -> Path:
    """A private copy of the prebuilt index (history starts empty)."""
    shutil.copytree(prebuilt_data_dir(), destination)
    return destination


def seed_attempts(data: Path, user: str, count: int) -> None:
    """`count` graded attempts over the whole bank for `user`, in one transaction (fast to set up; the app
    reads them as it reads any history)."""
    import random

    import sqlalchemy as sa

    from rag.grading.base import minimum_grade
    from rag.history import History, attempts, users

    history = History.in_data_dir(data)
    history.set_pending(user, None)  # creates the user's row
    rng = random.Random(5)
    from rag.questions import load_question_bank

    bank = load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml")
    grades = {q.id: minimum_grade(q, "dont-know", grader="offline", model="rules") for q in bank.questions}
    rows = []
    for index in range(count):
        question = rng.choice(bank.questions)
        score = round(rng.uniform(0, 10), 1)
        rows.append({
            "user": user, "question_id": question.id, "topic": question.topic, "level": question.level.value,
            "kind": "answer", "answer": f"=SUM(A{index}) an answer that is long enough to look real " * 3,
            "grade_json": grades[question.id].model_copy(update={"score": score}).model_dump_json(),
            "grader": "offline", "model": "rules", "score": score, "status": "scored", "fell_back": 0, "hints": 0,
            "created_at": f"2026-{1 + index % 11:02d}-{1 + index % 27:02d}T10:{index % 60:02d}:00+00:00",
        })  # fmt: skip
    engine = sa.create_engine(history.url)
    try:
        with engine.begin() as conn:
            conn.execute(attempts.insert(), rows)
            assert conn.scalar(sa.select(sa.func.count()).select_from(users).where(users.c.name == user)) == 1
    finally:
        engine.dispose()
        history.close()
