"""Practice history: every attempt, per user, plus the spaced-repetition card of each question.

The store is any database `rag.database` supports: by default one SQLite file under the data directory (WAL
mode), or PostgreSQL when `PREP_DATABASE_URL` is set, so several app replicas share one history. Every public
call takes a pooled connection and runs inside one transaction, so two browser tabs (two threads), two
processes or two replicas can write at the same time, and a crash mid-write leaves the last committed state.
`rag.database` migrates the schema (the Alembic migrations in `rag/migrations/`) when a History first opens a
database in this process.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine

from rag.database import (
    NewerSchemaError,
    UnusableDatabaseError,
    display_url,
    dispose_engine,
    engine_for,
    migrated_engine,
    parse_database_url,
    sqlite_url,
    transaction,
)
from rag.errors import PrepError
from rag.grading.llm_log import redact

if TYPE_CHECKING:
    from rag.settings import Settings

DB_NAME = "history.sqlite3"
MAX_NAME_CHARS = 64
MAX_STORED_ANSWER_CHARS = 200_000
SCORED_KINDS = ("answer", "idk")
"""Kinds that count towards scores, topic means and the scheduler; skips and follow-ups do not."""

# The tables as the queries see them; `rag/migrations/` creates and evolves them.
USER_NAME = sa.Text(collation="NOCASE").with_variant(postgresql.CITEXT(), "postgresql")
"""User names compare case-insensitively on both backends."""

metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", USER_NAME, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("pending_json", sa.Text),
    sa.Column("filters_json", sa.Text),
)
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("user", USER_NAME, sa.ForeignKey("users.name"), nullable=False),
    sa.Column("question_id", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("grade_json", sa.Text),
    sa.Column("grader", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("fell_back", sa.Integer, nullable=False),
    sa.Column("hints", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("parent_attempt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
)
cards = sa.Table(
    "cards",
    metadata,
    sa.Column("user", USER_NAME, primary_key=True),
    sa.Column("question_id", sa.Text, primary_key=True),
    sa.Column("card_json", sa.Text, nullable=False),
    sa.Column("due", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)


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
    parent_attempt_id: int | None = None
    """On a follow-up: the attempt at the main question whose answer led to it."""

    def grade_dict(self) -> dict[str, Any] | None:
        return json.loads(self.grade_json) if self.grade_json else None


@dataclass(frozen=True)
class ProgressCounts:
    """What the Progress page's headline shows, counted in the database."""

    attempts: int
    scored: int
    mean_score: float | None
    questions: int


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
QuestionText = Callable[[str], str | None]
"""A question id -> the text that was asked (None when the bank no longer has it), for the exports."""


class History:
    """The practice history in the SQLite file at `path` (created on first use) or the database at `url`."""

    def __init__(self, path: Path | None = None, *, url: str | None = None) -> None:
        if (path is None) == (url is None):
            raise ValueError("History needs exactly one of a SQLite file path or a database URL")
        try:
            self.url: URL = sqlite_url(Path(path)) if path is not None else parse_database_url(url or "")
        except UnusableDatabaseError as exc:
            raise HistoryError(str(exc)) from exc
        self.path: Path | None = Path(self.url.database or "") if self.backend == "sqlite" else None
        """The SQLite file (also when given as a sqlite:/// URL); None on a database server."""
        self.where = str(self.path) if self.path is not None else display_url(self.url)
        """Where the history lives, credentials hidden: for messages and `python -m rag doctor`."""

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> History:
        return cls(Path(data_dir) / DB_NAME)

    @classmethod
    def from_settings(cls, settings: Settings) -> History:
        """PostgreSQL (or any supported URL) when PREP_DATABASE_URL is set, else SQLite in the data directory."""
        if settings.database_url is not None:
            return cls(url=settings.database_url.get_secret_value())
        return cls.in_data_dir(settings.data_dir)

    @property
    def backend(self) -> str:
        """The database kind: "sqlite" or "postgresql"."""
        return self.url.get_backend_name()

    def close(self) -> None:
        """Close this process's pooled connections to the database (a later call opens new ones)."""
        dispose_engine(self.url)

    def _engine(self) -> Engine:
        try:
            return engine_for(self.url)
        except (sa.exc.SQLAlchemyError, UnusableDatabaseError) as exc:
            raise self._error(exc) from exc

    def _ready_engine(self) -> Engine:
        """The engine, after the schema has been migrated to the newest revision (once per process)."""
        try:
            return migrated_engine(self.url)
        except (sa.exc.SQLAlchemyError, UnusableDatabaseError) as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Connection]:
        """One connection and one transaction (`rag.database.transaction`): any exception rolls everything back."""
        engine = self._ready_engine()
        try:
            with transaction(engine, write) as conn:
                yield conn
        except (sa.exc.SQLAlchemyError, UnusableDatabaseError) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: sa.exc.SQLAlchemyError | UnusableDatabaseError) -> HistoryError:
        """One line saying what is wrong with the database and what to do about it."""
        if isinstance(exc, NewerSchemaError):
            return HistoryError(
                f"the history database {self.where} was written by a newer version of this app ({exc}); "
                "upgrade the app or point PREP_DATA_DIR / PREP_DATABASE_URL elsewhere"
            )
        if isinstance(exc, UnusableDatabaseError):
            return HistoryError(str(exc))
        detail = _first_line(exc)
        if self.path is not None:
            if isinstance(exc, sa.exc.DatabaseError) and ("not a database" in detail or "malformed" in detail):
                return HistoryError(
                    f"the history database {self.where} is damaged or not a database ({detail}); "
                    "move it aside to start a fresh history"
                )
            return HistoryError(f"the history database {self.where} cannot be used ({detail}); check PREP_DATA_DIR")
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            return HistoryError(
                f"cannot use the history database {self.where} ({detail}); "
                "check PREP_DATABASE_URL and that the database server is running and reachable"
            )
        return HistoryError(f"the history database {self.where} cannot be used ({detail})")

    def journal_mode(self) -> str:
        """SQLite's journal mode ("wal"); PostgreSQL always writes ahead to its WAL, so "wal" there too."""
        if self.backend != "sqlite":
            self._ready_engine()
            return "wal"
        with self._transaction(write=False) as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())

    @staticmethod
    def _lock_user(conn: Connection, user: str) -> None:
        """Create the user's row if needed and hold its lock until the transaction ends.

        A write transaction of one user then sees every earlier write of that user, so two tabs updating the same
        card do not lose an update on PostgreSQL either (SQLite's BEGIN IMMEDIATE already serialises writers).
        """
        conn.execute(
            _insert(conn, users)
            .values(name=user, created_at=utc_now().isoformat())
            .on_conflict_do_nothing(index_elements=[users.c.name])
        )
        conn.execute(sa.select(users.c.name).where(users.c.name == user).with_for_update())

    def users(self) -> list[str]:
        with self._transaction(write=False) as conn:
            return list(conn.scalars(sa.select(users.c.name).order_by(users.c.name)))

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
        parent_attempt_id: int | None = None,
    ) -> int:
        """Store one attempt and, in the same transaction, update the question's card. Returns the attempt id.

        The stored answer is cut at MAX_STORED_ANSWER_CHARS and loses NUL characters (PostgreSQL text cannot hold
        them, and they mean nothing in an answer).
        """
        created = (created_at or utc_now()).isoformat()
        with self._transaction() as conn:
            self._lock_user(conn, user)
            result = conn.execute(
                attempts.insert().values(
                    user=user,
                    question_id=question_id,
                    topic=topic,
                    level=level,
                    kind=kind,
                    answer=answer[:MAX_STORED_ANSWER_CHARS].replace("\x00", ""),
                    grade_json=grade_json,
                    grader=grader,
                    model=model,
                    score=score,
                    status=status,
                    fell_back=int(fell_back),
                    hints=hints,
                    created_at=created,
                    parent_attempt_id=parent_attempt_id,
                )
            )
            attempt_id = int(result.inserted_primary_key[0])
            if card_update is not None:
                stored = conn.scalar(
                    sa.select(cards.c.card_json).where(cards.c.user == user, cards.c.question_id == question_id)
                )
                card_json, due = card_update(stored)
                _upsert_card(conn, user, question_id, card_json, due, created)
            return attempt_id

    def attempts_for(self, user: str, limit: int | None = None) -> list[Attempt]:
        """The user's attempts, oldest first (the newest `limit` when given)."""
        query = sa.select(attempts).where(attempts.c.user == user)
        if limit is None:
            query = query.order_by(attempts.c.id)
        else:
            newest = query.order_by(attempts.c.id.desc()).limit(limit).subquery()
            query = sa.select(newest).order_by(newest.c.id)
        with self._transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [_attempt(row) for row in rows]

    def last_scored(self, user: str, question_id: str) -> Attempt | None:
        """The user's newest scored answer (or "I don't know") to this question, if any."""
        query = (
            sa.select(attempts)
            .where(attempts.c.user == user, attempts.c.question_id == question_id, *_scored())
            .order_by(attempts.c.id.desc())
            .limit(1)
        )
        with self._transaction(write=False) as conn:
            row = conn.execute(query).mappings().first()
        return _attempt(row) if row else None

    def recent_scores_by_level(self, user: str, per_level: int) -> dict[str, list[float]]:
        """The newest `per_level` scores of scored answers and "I don't know"s at each level, newest first."""
        rank = sa.func.row_number().over(partition_by=attempts.c.level, order_by=attempts.c.id.desc())
        ranked = (
            sa.select(attempts.c.level, attempts.c.score, rank.label("n"))
            .where(attempts.c.user == user, *_scored())
            .subquery()
        )
        query = (
            sa.select(ranked.c.level, ranked.c.score)
            .where(ranked.c.n <= per_level)
            .order_by(ranked.c.level, ranked.c.n)
        )
        with self._transaction(write=False) as conn:
            rows = conn.execute(query).all()
        scores: dict[str, list[float]] = {}
        for level, score in rows:
            scores.setdefault(str(level), []).append(float(score))
        return scores

    def attempt(self, user: str, attempt_id: int) -> Attempt | None:
        query = sa.select(attempts).where(attempts.c.user == user, attempts.c.id == attempt_id)
        with self._transaction(write=False) as conn:
            row = conn.execute(query).mappings().first()
        return _attempt(row) if row else None

    def attempts_page(self, user: str, size: int, page: int = 0) -> list[Attempt]:
        """One page of the user's attempts, newest first: page 0 is the newest `size`."""
        query = (
            sa.select(attempts)
            .where(attempts.c.user == user)
            .order_by(attempts.c.id.desc())
            .limit(size)
            .offset(max(0, page) * size)
        )
        with self._transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [_attempt(row) for row in rows]

    def progress_counts(self, user: str) -> ProgressCounts:
        """Attempts, scored answers (and "I don't know"s) with their mean, and questions seen."""
        everything = sa.select(sa.func.count(), sa.func.count(sa.distinct(attempts.c.question_id))).where(
            attempts.c.user == user
        )
        scored = sa.select(sa.func.count(), sa.func.avg(attempts.c.score)).where(attempts.c.user == user, *_scored())
        with self._transaction(write=False) as conn:
            total, questions = conn.execute(everything).one()
            count, mean = conn.execute(scored).one()
        return ProgressCounts(int(total or 0), int(count or 0), float(mean) if mean is not None else None,
                              int(questions or 0))  # fmt: skip

    def topic_means(self, user: str) -> list[TopicMean]:
        """Mean score per topic over scored answers and "I don't know"s (skips and follow-ups excluded)."""
        query = (
            sa.select(attempts.c.topic, sa.func.avg(attempts.c.score), sa.func.count())
            .where(attempts.c.user == user, *_scored())
            .group_by(attempts.c.topic)
            .order_by(attempts.c.topic)
        )
        with self._transaction(write=False) as conn:
            rows = conn.execute(query).all()
        return [TopicMean(topic, round(float(mean), 2), int(n)) for topic, mean, n in rows]

    def weakest_key_points(self, user: str, n: int = 10, window: int | None = None) -> list[WeakPoint]:
        """Key points missed most often (by miss rate, then by how often they were seen), over the newest `window`
        attempts (all when None)."""
        tally: dict[tuple[str, str], list[Any]] = {}
        for attempt in self.attempts_for(user, limit=window):
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
        query = sa.select(cards.c.question_id, cards.c.card_json).where(cards.c.user == user)
        with self._transaction(write=False) as conn:
            return {question_id: card_json for question_id, card_json in conn.execute(query)}

    def pending(self, user: str) -> dict[str, Any] | None:
        """The question the user was last asked and has not answered yet (survives refreshes and restarts)."""
        with self._transaction(write=False) as conn:
            stored = conn.scalar(sa.select(users.c.pending_json).where(users.c.name == user))
        if not stored:
            return None
        try:
            value = json.loads(stored)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def set_pending(self, user: str, pending: dict[str, Any] | None) -> None:
        with self._transaction() as conn:
            self._lock_user(conn, user)
            conn.execute(
                users.update()
                .where(users.c.name == user)
                .values(pending_json=json.dumps(pending) if pending is not None else None)
            )

    def filters(self, user: str) -> tuple[list[str], list[str]]:
        """The user's saved question filters (topics, levels); empty lists when none were saved."""
        with self._transaction(write=False) as conn:
            stored = conn.scalar(sa.select(users.c.filters_json).where(users.c.name == user))
        try:
            value = json.loads(stored) if stored else {}
        except json.JSONDecodeError:
            value = {}
        if not isinstance(value, dict):
            return [], []

        def strings(key: str) -> list[str]:
            found = value.get(key)
            return [str(v) for v in found if isinstance(v, str)] if isinstance(found, list) else []

        return strings("topics"), strings("levels")

    def set_filters(self, user: str, topics: Sequence[str], levels: Sequence[str]) -> None:
        """Save the user's question filters, so they come back on the next visit and on every device."""
        value = json.dumps({"topics": list(topics), "levels": list(levels)})
        with self._transaction() as conn:
            self._lock_user(conn, user)
            conn.execute(users.update().where(users.c.name == user).values(filters_json=value))

    def export_rows(self, user: str, question_text: QuestionText | None = None) -> list[dict[str, Any]]:
        """The user's attempts as dicts; with `question_text` (question id -> its text, or None when unknown),
        each row also carries the text of the question or follow-up that was asked."""
        rows = []
        for attempt in self.attempts_for(user):
            row = asdict(attempt)
            row["question"] = (question_text(attempt.question_id) if question_text else None) or ""
            rows.append(row)
        return rows

    def export_json(self, user: str, question_text: QuestionText | None = None) -> str:
        rows = []
        for row in self.export_rows(user, question_text):
            grade = row.pop("grade_json")
            row["grade"] = json.loads(grade) if grade else None
            rows.append(row)
        return json.dumps({"user": user, "attempts": rows}, indent=2, ensure_ascii=False)

    def export_csv(self, user: str, question_text: QuestionText | None = None) -> str:
        """One row per attempt; the grade's feedback is a column, the full grade stays in `grade_json`.

        Every text cell goes through `spreadsheet_safe`: an answer is untrusted text, and a cell starting
        with "=" would run as a formula in the spreadsheet that opens the export.
        """
        columns = [
            "id", "created_at", "user", "question_id", "question", "parent_attempt_id", "topic", "level", "kind",
            "score", "status", "band", "grader", "model", "fell_back", "hints", "answer", "feedback", "grade_json",
        ]  # fmt: skip
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in self.export_rows(user, question_text):
            grade = json.loads(row["grade_json"]) if row["grade_json"] else {}
            cells = {**row, "band": grade.get("band") or "", "feedback": grade.get("feedback") or "",
                     "grade_json": row["grade_json"] or ""}  # fmt: skip
            if cells["parent_attempt_id"] is None:
                cells["parent_attempt_id"] = ""
            writer.writerow({key: spreadsheet_safe(value) for key, value in cells.items()})
        return buffer.getvalue()

    def integrity_check(self) -> str:
        """Returns "ok" when the database is sound: SQLite's integrity check of the file (without migrating it first);
        on PostgreSQL, "ok" once the server answers and the schema is at the newest revision (the server keeps
        its own files consistent)."""
        if self.backend != "sqlite":
            with self._transaction(write=False) as conn:
                conn.scalar(sa.select(sa.func.count()).select_from(users))
            return "ok"
        try:
            with self._engine().connect() as conn:
                return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())
        except (sa.exc.SQLAlchemyError, UnusableDatabaseError) as exc:
            raise self._error(exc) from exc


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _scored() -> tuple[sa.ColumnElement[bool], ...]:
    """Scored answers and "I don't know"s: the attempts that count towards scores and the scheduler."""
    return attempts.c.score.is_not(None), attempts.c.kind.in_(SCORED_KINDS)


def _insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT on both SQLite and PostgreSQL."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert)(table)


def _upsert_card(conn: Connection, user: str, question_id: str, card_json: str, due: str, updated: str) -> None:
    statement = _insert(conn, cards).values(
        user=user, question_id=question_id, card_json=card_json, due=due, updated_at=updated
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cards.c.user, cards.c.question_id],
            set_={
                "card_json": statement.excluded.card_json,
                "due": statement.excluded.due,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


def _attempt(row: sa.RowMapping) -> Attempt:
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
        score=float(row["score"]) if row["score"] is not None else None,
        status=row["status"],
        fell_back=bool(row["fell_back"]),
        hints=int(row["hints"]),
        created_at=row["created_at"],
        parent_attempt_id=int(row["parent_attempt_id"]) if row["parent_attempt_id"] is not None else None,
    )


def _first_line(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's message without SQLAlchemy's SQL dump, first line only, credentials redacted."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return redact(lines[0] if lines else type(original).__name__)
