"""The database behind the history: supported URLs and how they are shown, one cached engine per database per
process, SQLite's WAL mode and write locks, migration once per process, and forked children."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag import database
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
from rag.history import History, HistoryError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root:hunter2@db:3306/prep", "mysql"),
        ("not a url at all", "not a database URL"),
        ("postgresql+psycopg2://u:hunter2@db/prep", r"uses postgresql\+psycopg2"),
        ("postgresql+psycopg://u:hunter2@db:5432", "names no database"),
        ("sqlite://", "names no SQLite file"),
    ],
)
def test_an_unsupported_database_url_is_one_line_saying_what_to_write(url: str, expected: str):
    with pytest.raises(HistoryError, match=expected) as caught:
        History(url=url)
    message = str(caught.value)
    assert "hunter2" not in message and "\n" not in message
    assert "PREP_DATABASE_URL" in message


def test_postgres_url_without_a_driver_means_psycopg():
    assert History(url="postgresql://u:p@db/prep").url.drivername == "postgresql+psycopg"
    assert History(url="postgres://u:p@db/prep").where == "postgresql+psycopg://u:***@db/prep"
    assert "hunter2" not in History(url="postgresql://db/prep?user=u&password=hunter2").where


def test_database_urls_name_their_driver_and_a_url_without_a_file_is_refused():
    assert parse_database_url(" postgres://u:p@db/prep ").drivername == "postgresql+psycopg"
    assert parse_database_url("sqlite:////srv/prep/history.sqlite3") == sqlite_url(Path("/srv/prep/history.sqlite3"))
    with pytest.raises(UnusableDatabaseError, match="names no SQLite file"):
        parse_database_url("sqlite:///:memory:")


def test_display_url_hides_the_password_wherever_it_is_written():
    assert display_url("postgresql+psycopg://u:hunter2@db/prep") == "postgresql+psycopg://u:***@db/prep"
    assert "hunter2" not in display_url("postgresql+psycopg://u@db/prep?password=hunter2")
    assert "hunter2" not in display_url(sa.make_url("postgresql+psycopg://u:hunter2@db/prep"))


@pytest.fixture
def url(tmp_path: Path):
    """A SQLite file in a folder that does not exist yet; its engine is disposed after the test."""
    url = sqlite_url(tmp_path / "data" / "db.sqlite3")
    yield url
    dispose_engine(url)


def test_one_engine_per_database_per_process_until_it_is_disposed(url, tmp_path: Path):
    engine = engine_for(url)
    assert engine_for(sqlite_url(tmp_path / "data" / "db.sqlite3")) is engine, "an equal URL shares the engine"
    other = sqlite_url(tmp_path / "other.sqlite3")
    try:
        assert engine_for(other) is not engine
    finally:
        dispose_engine(other)
    dispose_engine(url)
    assert engine_for(url) is not engine, "after dispose the next use opens a new engine"


def test_the_schema_is_migrated_once_per_process_and_again_after_dispose(url, monkeypatch):
    calls = []
    migrate = database._migrate

    def counting(engine: sa.Engine) -> None:
        calls.append(engine)
        migrate(engine)

    monkeypatch.setattr(database, "_migrate", counting)
    engine = migrated_engine(url)
    assert migrated_engine(url) is engine and engine_for(url) is engine and len(calls) == 1
    with transaction(engine, write=False) as conn:
        assert {"users", "attempts", "cards", "alembic_version"} <= set(sa.inspect(conn).get_table_names())
    dispose_engine(url)
    assert migrated_engine(url) is not engine and len(calls) == 2


def test_a_schema_from_a_newer_app_version_is_refused(url):
    with transaction(migrated_engine(url)) as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    dispose_engine(url)
    with pytest.raises(NewerSchemaError, match="9999_future"):
        migrated_engine(url)


def test_sqlite_connections_use_wal_and_a_writer_takes_the_write_lock_at_begin(url):
    engine = engine_for(url)
    with transaction(engine, write=False) as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == database.BUSY_TIMEOUT_MS
    other = sqlite3.connect(url.database, isolation_level=None, timeout=0)
    try:
        with transaction(engine, write=False):
            other.execute("BEGIN IMMEDIATE")  # a reader holds no write lock
            other.execute("ROLLBACK")
        with transaction(engine, write=True), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_a_forked_child_opens_its_own_engine_and_the_parent_keeps_its_own(url):
    parent = engine_for(url)
    with transaction(parent, write=False) as conn:
        conn.exec_driver_sql("SELECT 1")
    pid = os.fork()
    if pid == 0:  # the child reports through its exit code and never returns into pytest
        ok = False
        try:
            ok = not database._ENGINES
            child = engine_for(url)
            with transaction(child) as conn:
                ok = ok and child is not parent and conn.exec_driver_sql("SELECT 1").scalar() == 1
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert engine_for(url) is parent
    with transaction(parent, write=False) as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1, "the parent's pooled connection still works"
