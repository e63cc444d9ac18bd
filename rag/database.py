"""The app's database: a configured URL turned into a migrated, cached SQLAlchemy engine.

Two backends are supported: one SQLite file (WAL mode, a busy timeout, write transactions that begin with BEGIN
IMMEDIATE) and PostgreSQL through psycopg 3. Each process keeps one engine (one connection pool) per database and
brings its schema to the newest Alembic revision in `rag/migrations/` the first time it is used; a forked child
starts with no engines, so it never shares its parent's connections.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from rag.errors import PrepError
from rag.grading.llm_log import redact

BUSY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_S = 10
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
MIGRATION_LOCK_KEY = 0x5052_4550  # "PREP": replicas starting together migrate one at a time (PostgreSQL)
SUPPORTED_URL = "postgresql+psycopg://user:password@host:5432/dbname"


class UnusableDatabaseError(PrepError):
    """The configured database URL, or the SQLite file's folder or journal mode, cannot be used."""


class NewerSchemaError(UnusableDatabaseError):
    """Alembic cannot upgrade the schema: the database is at a revision this app does not know (a newer app
    version migrated it)."""


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite+pysqlite", database=str(path))


def parse_database_url(value: str) -> URL:
    """A supported SQLAlchemy URL, or an UnusableDatabaseError saying what to write instead.

    `postgresql://` and `postgres://` without a driver mean psycopg 3, the PostgreSQL driver this app installs.
    """
    try:
        url = sa.make_url(value.strip())
    except sa.exc.ArgumentError as exc:
        raise UnusableDatabaseError(
            f"PREP_DATABASE_URL={redact(value)!r} is not a database URL; write {SUPPORTED_URL}, "
            "or leave it unset for SQLite in PREP_DATA_DIR"
        ) from exc
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql" and driver in ("", "psycopg"):
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite" and driver in ("", "pysqlite"):
        url = url.set(drivername="sqlite+pysqlite")
        if not url.database or url.database == ":memory:":
            raise UnusableDatabaseError(
                f"PREP_DATABASE_URL={display_url(url)!r} names no SQLite file; give a path "
                "(sqlite:////srv/prep/history.sqlite3) or leave it unset for SQLite in PREP_DATA_DIR"
            )
    else:
        raise UnusableDatabaseError(
            f"PREP_DATABASE_URL={display_url(url)!r} uses {url.drivername}, which this app does not support; "
            f"write {SUPPORTED_URL}, or leave it unset for SQLite in PREP_DATA_DIR"
        )
    if url.get_backend_name() == "postgresql" and not url.database:
        raise UnusableDatabaseError(f"PREP_DATABASE_URL={display_url(url)!r} names no database; write {SUPPORTED_URL}")
    return url


def display_url(url: URL | str) -> str:
    """The URL with its password hidden, for messages and `python -m rag doctor`."""
    if isinstance(url, str):
        try:
            url = sa.make_url(url)
        except sa.exc.ArgumentError:
            return redact(url)
    if "password" in url.query:  # libpq also takes the password as ?password=...
        url = url.update_query_dict({"password": "***"})
    return url.render_as_string(hide_password=True)


_LOCK = threading.Lock()
_ENGINES: dict[str, Engine] = {}
_MIGRATED: set[str] = set()


def _key(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def engine_for(url: URL) -> Engine:
    """One engine (one connection pool) per database per process, shared by every caller on it."""
    key = _key(url)
    engine = _ENGINES.get(key)
    if engine is not None:
        return engine
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _create_engine(url)
            _ENGINES[key] = engine
    return engine


def migrated_engine(url: URL) -> Engine:
    """The engine, after the schema has been migrated to the newest revision (once per process).

    Raises NewerSchemaError when the database is at a revision this app does not know.
    """
    engine = engine_for(url)
    key = _key(url)
    if key in _MIGRATED:
        return engine
    with _LOCK:
        if key not in _MIGRATED:
            try:
                _migrate(engine)
            except _alembic_errors() as exc:
                raise NewerSchemaError(str(exc)) from exc
            _MIGRATED.add(key)
    return engine


def dispose_engine(url: URL) -> None:
    """Close this process's pooled connections to the database; the next use opens new ones and migrates again."""
    with _LOCK:
        engine = _ENGINES.pop(_key(url), None)
        _MIGRATED.discard(_key(url))
    if engine is not None:
        engine.dispose()


@contextmanager
def transaction(engine: Engine, write: bool = True) -> Iterator[Connection]:
    """One connection and one transaction on it, committed when the block ends and rolled back on an exception.

    On SQLite a write transaction starts with BEGIN IMMEDIATE, so it takes the file's write lock before it reads
    (no deadlock when two writers would otherwise both upgrade a read lock).
    """
    with engine.connect() as conn:
        conn.execution_options(history_write=write)
        with conn.begin():
            yield conn


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        file = Path(url.database or "")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UnusableDatabaseError(f"cannot create the folder of the history database {file} ({exc}); "
                                "check PREP_DATA_DIR") from exc  # fmt: skip
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
    # pre-ping: a connection the server dropped (restart, failover, idle timeout) is replaced, not handed out
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_connected(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    """Each new SQLite connection: SQLAlchemy's begin event opens transactions (the driver's own are off),
    WAL mode (kept in the file; readers never block the writer), a busy timeout and foreign keys."""
    dbapi_connection.isolation_level = None
    mode = dbapi_connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise UnusableDatabaseError(f"the SQLite history database cannot use WAL mode (got {mode})")
    dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


def _sqlite_begin(conn: Connection) -> None:
    """Writers take the write lock at BEGIN (see `transaction`); everything else begins deferred."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("history_write") else "BEGIN")


def _migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, in one transaction that holds the database's write lock
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so processes opening it together migrate once."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _alembic_errors() -> tuple[type[Exception], ...]:
    from alembic.util.exc import CommandError

    return (CommandError,)


def _after_fork_in_child() -> None:
    """A forked child must not reuse its parent's pooled connections."""
    global _LOCK
    _LOCK = threading.Lock()
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()
    _MIGRATED.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
