"""Practice history in SQLite: every attempt, per user, plus the spaced-repetition card of each question.

One file under the data directory, in WAL mode. Every public call opens its own short-lived connection
and writes inside one transaction, so two browser tabs (two threads) or two processes can write at
the same time, and a crash mid-write leaves the last committed state.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import PrepError

SCHEMA_VERSION = 1
DB_NAME = "history.sqlite3"
MAX_NAME_CHARS = 64
MAX_STORED_ANSWER_CHARS = 200_000
BUSY_TIMEOUT_MS = 15_000
SCORED_KINDS = ("answer", "idk")
"""Kinds that count towards scores, topic means and the scheduler; skips and follow-ups do not."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    created_at TEXT NOT NULL,
    pending_json TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL COLLATE NOCASE REFERENCES users(name),
    question_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    level TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('answer', 'skip', 'idk', 'followup')),
    answer TEXT NOT NULL DEFAULT '',
    grade_json TEXT,
    grader TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    score REAL,
    status TEXT NOT NULL CHECK (status IN ('scored', 'unscored', 'none')),
    fell_back INTEGER NOT NULL DEFAULT 0,
    hints INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_user_time ON attempts (user, created_at);
CREATE TABLE IF NOT EXISTS cards (
    user TEXT NOT NULL COLLATE NOCASE,
    question_id TEXT NOT NULL,
    card_json TEXT NOT NULL,
    due TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user, question_id)
);
"""

_UPSERT_CARD = """
INSERT INTO cards (user, question_id, card_json, due, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (user, question_id)
DO UPDATE SET card_json = excluded.card_json, due = excluded.due, updated_at = excluded.updated_at
"""


class HistoryError(PrepError):
    """The history database cannot be opened or written."""


def normalise_user(name: str | None, default: str = "candidate") -> str:
    """A display name as the key of a user's history: trimmed, single-spaced, at most 64 characters."""
    cleaned = " ".join((name or "").split())[:MAX_NAME_CHARS].strip()
    return cleaned or default


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Attempt:
    id: int
    user: str
    question_id: str
    topic: str
    level: str
    kind: str
    answer: str
    grade_json: str | None
    grader: str
    model: str
    score: float | None
    status: str
    fell_back: bool
    hints: int
    created_at: str

    def grade_dict(self) -> dict[str, Any] | None:
        return json.loads(self.grade_json) if self.grade_json else None


@dataclass(frozen=True)
class TopicMean:
    topic: str
    mean_score: float
    attempts: int


@dataclass(frozen=True)
class WeakPoint:
    question_id: str
    key_point_id: str
    text: str
    seen: int
    missed: float
    """Misses count 1, partly-covered counts 0.5."""

    @property
    def miss_rate(self) -> float:
        return self.missed / self.seen if self.seen else 0.0


CardUpdate = Callable[[str | None], tuple[str, str]]
"""Given the stored card JSON (None for a new card), return (new card JSON, due ISO time)."""


class History:
    """The history database at `path` (created on first use)."""

    _init_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> History:
        return cls(Path(data_dir) / DB_NAME)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history database {self.path} ({exc}); check PREP_DATA_DIR") from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HistoryError(
                f"the history database {self.path} is damaged or not a database ({exc}); "
                "move it aside to start a fresh history"
            ) from exc
        return conn

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One connection and one transaction; any exception rolls everything back."""
        self._ensure_schema()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"the history database {self.path} cannot be used ({exc})") from exc
        finally:
            conn.close()

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with History._init_lock:
            conn = self._connect()
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise HistoryError(f"the history database {self.path} cannot use WAL mode (got {mode})")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                    version = row[0] if row else None
                    if version is None:
                        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                    elif version > SCHEMA_VERSION:
                        raise HistoryError(
                            f"{self.path} was written by a newer version of this app (schema {version}); "
                            "upgrade the app or point PREP_DATA_DIR elsewhere"
                        )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise HistoryError(
                    f"the history database {self.path} is damaged or not a database ({exc}); "
                    "move it aside to start a fresh history"
                ) from exc
            finally:
                conn.close()
            self._ready = True

    def journal_mode(self) -> str:
        self._ensure_schema()
        conn = self._connect()
        try:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            conn.close()

    @staticmethod
    def _ensure_user(conn: sqlite3.Connection, user: str) -> None:
        conn.execute("INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)", (user, utc_now().isoformat()))

    def users(self) -> list[str]:
        with self._transaction(write=False) as conn:
            return [row["name"] for row in conn.execute("SELECT name FROM users ORDER BY name")]

    def record_attempt(
        self,
        user: str,
        *,
        question_id: str,
        topic: str,
        level: str,
        kind: str,
        answer: str = "",
        grade_json: str | None = None,
        grader: str = "",
        model: str = "",
        score: float | None = None,
        status: str = "none",
        fell_back: bool = False,
        hints: int = 0,
        card_update: CardUpdate | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Store one attempt and, in the same transaction, update the question's card. Returns the attempt id."""
        created = (created_at or utc_now()).isoformat()
        with self._transaction() as conn:
            self._ensure_user(conn, user)
            cursor = conn.execute(
                """INSERT INTO attempts (user, question_id, topic, level, kind, answer, grade_json, grader, model,
                                         score, status, fell_back, hints, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    user,
                    question_id,
                    topic,
                    level,
                    kind,
                    answer[:MAX_STORED_ANSWER_CHARS],
                    grade_json,
                    grader,
                    model,
                    score,
                    status,
                    int(fell_back),
                    hints,
                    created,
                ),
            )
            if card_update is not None:
                row = conn.execute(
                    "SELECT card_json FROM cards WHERE user = ? AND question_id = ?", (user, question_id)
                ).fetchone()
                card_json, due = card_update(row["card_json"] if row else None)
                conn.execute(_UPSERT_CARD, (user, question_id, card_json, due, created))
            return int(cursor.lastrowid or 0)

    def attempts_for(self, user: str, limit: int | None = None) -> list[Attempt]:
        """The user's attempts, oldest first (the newest `limit` when given)."""
        with self._transaction(write=False) as conn:
            if limit is None:
                rows = conn.execute("SELECT * FROM attempts WHERE user = ? ORDER BY id", (user,)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM (SELECT * FROM attempts WHERE user = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
                    (user, limit),
                ).fetchall()
        return [_attempt(row) for row in rows]

    def last_scored(self, user: str, question_id: str) -> Attempt | None:
        """The user's newest scored answer (or "I don't know") to this question, if any."""
        marks = ",".join("?" for _ in SCORED_KINDS)
        with self._transaction(write=False) as conn:
            row = conn.execute(
                f"""SELECT * FROM attempts WHERE user = ? AND question_id = ? AND score IS NOT NULL
                    AND kind IN ({marks}) ORDER BY id DESC LIMIT 1""",
                (user, question_id, *SCORED_KINDS),
            ).fetchone()
        return _attempt(row) if row else None

    def recent_scores_by_level(self, user: str, per_level: int) -> dict[str, list[float]]:
        """The newest `per_level` scores of scored answers and "I don't know"s at each level, newest first."""
        marks = ",".join("?" for _ in SCORED_KINDS)
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"""SELECT level, score FROM (
                        SELECT level, score, ROW_NUMBER() OVER (PARTITION BY level ORDER BY id DESC) AS n
                        FROM attempts WHERE user = ? AND score IS NOT NULL AND kind IN ({marks}))
                    WHERE n <= ? ORDER BY level, n""",
                (user, *SCORED_KINDS, per_level),
            ).fetchall()
        scores: dict[str, list[float]] = {}
        for row in rows:
            scores.setdefault(str(row[0]), []).append(float(row[1]))
        return scores

    def attempt(self, user: str, attempt_id: int) -> Attempt | None:
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT * FROM attempts WHERE user = ? AND id = ?", (user, attempt_id)).fetchone()
        return _attempt(row) if row else None

    def count_attempts(self, user: str) -> int:
        with self._transaction(write=False) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM attempts WHERE user = ?", (user,)).fetchone()[0])

    def topic_means(self, user: str) -> list[TopicMean]:
        """Mean score per topic over scored answers and "I don't know"s (skips and follow-ups excluded)."""
        marks = ",".join("?" for _ in SCORED_KINDS)
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"""SELECT topic, AVG(score) AS mean_score, COUNT(*) AS n FROM attempts
                    WHERE user = ? AND score IS NOT NULL AND kind IN ({marks})
                    GROUP BY topic ORDER BY topic""",
                (user, *SCORED_KINDS),
            ).fetchall()
        return [TopicMean(row["topic"], round(float(row["mean_score"]), 2), int(row["n"])) for row in rows]

    def weakest_key_points(self, user: str, n: int = 10) -> list[WeakPoint]:
        """Key points missed most often (by miss rate, then by how often they were seen)."""
        tally: dict[tuple[str, str], list[Any]] = {}
        for attempt in self.attempts_for(user):
            if attempt.kind not in SCORED_KINDS or attempt.status != "scored":
                continue
            grade = attempt.grade_dict() or {}
            for point in grade.get("key_points", []):
                key = (attempt.question_id, str(point.get("key_point_id", "")))
                entry = tally.setdefault(key, [str(point.get("text", "")), 0, 0.0])
                entry[1] += 1
                verdict = point.get("verdict")
                entry[2] += 1.0 if verdict in ("missed", "contradicted") else 0.5 if verdict == "partly" else 0.0
        points = [
            WeakPoint(question_id=qid, key_point_id=kid, text=text, seen=seen, missed=missed)
            for (qid, kid), (text, seen, missed) in tally.items()
            if missed > 0
        ]
        points.sort(key=lambda p: (-p.miss_rate, -p.missed, p.question_id, p.key_point_id))
        return points[:n]

    def cards_for(self, user: str) -> dict[str, str]:
        """question_id -> stored card JSON."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT question_id, card_json FROM cards WHERE user = ?", (user,)).fetchall()
        return {row["question_id"]: row["card_json"] for row in rows}

    def save_card(self, user: str, question_id: str, card_json: str, due: str) -> None:
        with self._transaction() as conn:
            self._ensure_user(conn, user)
            conn.execute(
                _UPSERT_CARD,
                (user, question_id, card_json, due, utc_now().isoformat()),
            )

    def pending(self, user: str) -> dict[str, Any] | None:
        """The question the user was last asked and has not answered yet (survives refreshes and restarts)."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT pending_json FROM users WHERE name = ?", (user,)).fetchone()
        if not row or not row["pending_json"]:
            return None
        try:
            value = json.loads(row["pending_json"])
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def set_pending(self, user: str, pending: dict[str, Any] | None) -> None:
        with self._transaction() as conn:
            self._ensure_user(conn, user)
            conn.execute(
                "UPDATE users SET pending_json = ? WHERE name = ?",
                (json.dumps(pending) if pending is not None else None, user),
            )

    def export_rows(self, user: str) -> list[dict[str, Any]]:
        return [asdict(attempt) for attempt in self.attempts_for(user)]

    def export_json(self, user: str) -> str:
        rows = []
        for row in self.export_rows(user):
            grade = row.pop("grade_json")
            row["grade"] = json.loads(grade) if grade else None
            rows.append(row)
        return json.dumps({"user": user, "attempts": rows}, indent=2, ensure_ascii=False)

    def export_csv(self, user: str) -> str:
        """One row per attempt; the grade's feedback is a column, the full grade stays in `grade_json`.

        Every text cell goes through `spreadsheet_safe`: an answer is untrusted text, and a cell starting
        with "=" would run as a formula in the spreadsheet that opens the export.
        """
        columns = [
            "id", "created_at", "user", "question_id", "topic", "level", "kind", "score", "status", "band",
            "grader", "model", "fell_back", "hints", "answer", "feedback", "grade_json",
        ]  # fmt: skip
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in self.export_rows(user):
            grade = json.loads(row["grade_json"]) if row["grade_json"] else {}
            cells = {**row, "band": grade.get("band") or "", "feedback": grade.get("feedback") or "",
                     "grade_json": row["grade_json"] or ""}  # fmt: skip
            writer.writerow({key: spreadsheet_safe(value) for key, value in cells.items()})
        return buffer.getvalue()

    def integrity_check(self) -> str:
        conn = self._connect()
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        id=int(row["id"]),
        user=row["user"],
        question_id=row["question_id"],
        topic=row["topic"],
        level=row["level"],
        kind=row["kind"],
        answer=row["answer"],
        grade_json=row["grade_json"],
        grader=row["grader"],
        model=row["model"],
        score=row["score"],
        status=row["status"],
        fell_back=bool(row["fell_back"]),
        hints=int(row["hints"]),
        created_at=row["created_at"],
    )
