"""A SQLite response cache for graders, as a wrapper Grader.

The key covers everything that can change a grade: grader name and model, the prompt and rubric files,
the whole question (key points, misconceptions), the answer and the reference passages in order.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from rag.grading.base import Grader
from rag.grading.result import Grade
from rag.passage import Passage
from rag.questions import Question

DEFAULT_CACHE = Path(__file__).resolve().parent / ".cache" / "responses.sqlite"


def files_fingerprint(paths: Sequence[Path]) -> str:
    """A short hash of the named files' bytes (missing files count as empty)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:16]


class ResponseCache:
    """Grades stored by key in one SQLite file, safe to use from several threads."""

    def __init__(self, path: Path = DEFAULT_CACHE) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        self._connection.execute("CREATE TABLE IF NOT EXISTS grades (key TEXT PRIMARY KEY, grade TEXT NOT NULL)")
        self._connection.commit()

    def get(self, key: str) -> Grade | None:
        with self._lock:
            row = self._connection.execute("SELECT grade FROM grades WHERE key = ?", (key,)).fetchone()
        return Grade.model_validate_json(row[0]) if row else None

    def put(self, key: str, grade: Grade) -> None:
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO grades (key, grade) VALUES (?, ?)", (key, grade.model_dump_json())
            )
            self._connection.commit()

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class CachedGrader:
    """Wraps a grader: `read` answers from the cache when possible; scored grades are always written back.

    Unscored grades are not stored, so a failed call is retried next time. Repeats run with `read=False`.
    """

    def __init__(self, inner: Grader, cache: ResponseCache, fingerprint: str, read: bool = True) -> None:
        self.inner = inner
        self.cache = cache
        self.fingerprint = fingerprint
        self.read = read
        self.name = inner.name
        self.model = inner.model
        self._local = threading.local()

    def key(self, question: Question, answer: str, passages: Sequence[Passage]) -> str:
        payload = json.dumps(
            {
                "grader": self.inner.name,
                "model": self.inner.model,
                "fingerprint": self.fingerprint,
                "question": question.model_dump(mode="json"),
                "answer": answer,
                "passages": [p.model_dump(mode="json") for p in passages],
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def start(self) -> None:
        """Call before each grading; `hit()` then tells whether this thread's grading came from the cache."""
        self._local.hit = False

    def hit(self) -> bool:
        return getattr(self._local, "hit", False)

    def grade(self, question: Question, answer: str, passages: Sequence[Passage]) -> Grade:
        key = self.key(question, answer, passages)
        if self.read:
            cached = self.cache.get(key)
            if cached is not None:
                self._local.hit = True
                return cached
        grade = self.inner.grade(question, answer, passages)
        if grade.scored:
            self.cache.put(key, grade)
        return grade
