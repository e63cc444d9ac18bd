"""The practice history on both backends (SQLite in WAL mode, and a real PostgreSQL server): one transaction per
write, safe for two tabs, two processes and crashes; Alembic migrations, including a file from before them."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.history import DB_NAME, History, HistoryError, normalise_user
from rag.pg_server import free_port

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


def _record(history: History, user: str = "ana", **overrides) -> int:
    values = {
        "question_id": "q1",
        "topic": "storage",
        "level": "associate",
        "kind": "answer",
        "answer": "my answer",
        "grade_json": json.dumps(
            {
                "score": 6.0,
                "band": "partial",
                "feedback": "ok",
                "key_points": [
                    {"key_point_id": "a", "text": "Point A", "verdict": "missed"},
                    {"key_point_id": "b", "text": "Point B", "verdict": "covered"},
                ],
            }
        ),
        "grader": "offline",
        "model": "rules",
        "score": 6.0,
        "status": "scored",
    }
    values.update(overrides)
    return history.record_attempt(user, **values)


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path: Path) -> dict[str, str]:
    """Where a test's history lives, as History's keyword arguments in plain strings (they cross processes)."""
    if request.param == "sqlite":
        return {"path": str(tmp_path / "data" / DB_NAME)}
    return {"url": request.getfixturevalue("postgres_url")}


def open_history(target: dict[str, str]) -> History:
    return History(Path(target["path"])) if "path" in target else History(url=target["url"])


@pytest.fixture
def history(target: dict[str, str]):
    history = open_history(target)
    yield history
    history.close()


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from rag.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def stored_revisions(history: History) -> list[str]:
    engine = sa.create_engine(history.url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def test_database_uses_wal_and_is_at_the_newest_migration(history: History):
    _record(history)
    assert history.journal_mode().lower() == "wal"
    assert stored_revisions(history) == [head_revision()]
    if history.path is not None:
        with sqlite3.connect(history.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_attempts_round_trip_per_user(history: History):
    first = _record(history, "ana")
    _record(history, "bo", question_id="q2", topic="networking", score=3.0)
    _record(history, "Ana", question_id="q3", kind="skip", grade_json=None, score=None, status="none")
    ana = history.attempts_for("ana")
    assert [a.question_id for a in ana] == ["q1", "q3"], "user names are case-insensitive"
    assert ana[0].id == first and ana[0].grade_dict()["band"] == "partial"
    assert [a.question_id for a in history.attempts_for("bo")] == ["q2"]
    assert history.attempts_for("ana", limit=1)[0].question_id == "q3"
    assert history.progress_counts("ana").attempts == 2
    assert sorted(history.users()) == ["ana", "bo"]


def test_topic_means_ignore_skips_and_unscored(history: History):
    _record(history, score=6.0)
    _record(history, score=8.0)
    _record(history, kind="idk", score=0.0)
    _record(history, kind="skip", score=None, status="none", grade_json=None)
    _record(history, score=None, status="unscored")
    _record(history, topic="networking", kind="followup", score=10.0)
    means = history.topic_means("ana")
    assert [(m.topic, m.mean_score, m.attempts) for m in means] == [("storage", round(14 / 3, 2), 3)]


def test_weakest_key_points(history: History):
    _record(history)
    _record(history)
    weak = history.weakest_key_points("ana", 5)
    assert [(w.key_point_id, w.seen, w.missed, w.miss_rate) for w in weak] == [("a", 2, 2.0, 1.0)]
    newest = history.weakest_key_points("ana", 5, window=1)
    assert [(w.key_point_id, w.seen, w.missed) for w in newest] == [("a", 1, 1.0)], "only the newest attempt"


def test_cards_and_pending_state(history: History):
    _record(history, card_update=lambda stored: ('{"due": "x"}', "2030-01-01T00:00:00+00:00"))
    assert history.cards_for("ana") == {"q1": '{"due": "x"}'}
    assert history.pending("ana") is None
    history.set_pending("ana", {"question_id": "q7", "hints": 1})
    assert history.pending("ana") == {"question_id": "q7", "hints": 1}
    history.set_pending("ana", None)
    assert history.pending("ana") is None


def test_card_update_runs_in_the_attempt_transaction(history: History):
    _record(history, card_update=lambda stored: ('{"n": 1}', "2030-01-01T00:00:00+00:00"))
    seen = []

    def update(stored):
        seen.append(stored)
        return '{"n": 2}', "2030-01-02T00:00:00+00:00"

    _record(history, card_update=update)
    assert seen == ['{"n": 1}']
    assert history.cards_for("ana") == {"q1": '{"n": 2}'}


def test_an_exception_inside_the_transaction_rolls_everything_back(history: History):
    _record(history)

    def broken(stored):
        raise RuntimeError("crash while updating the card")

    with pytest.raises(RuntimeError):
        _record(history, question_id="q2", card_update=broken)
    assert [a.question_id for a in history.attempts_for("ana")] == ["q1"], "the attempt row was rolled back"
    assert history.cards_for("ana") == {}
    assert history.integrity_check() == "ok"


CRASHER = """
import os, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from rag.history import History
history = History(Path({path!r})) if {path!r} else History(url={url!r})
history.record_attempt("ana", question_id="ok", topic="t", level="associate", kind="skip")
def die(stored):
    os._exit(9)  # the process dies mid-transaction: no rollback, no cleanup
history.record_attempt("ana", question_id="lost", topic="t", level="associate", kind="skip", card_update=die)
"""


def test_a_process_killed_mid_write_leaves_a_consistent_database(history: History, target: dict[str, str]):
    root = str(Path(__file__).resolve().parent.parent)
    code = CRASHER.format(root=root, path=target.get("path", ""), url=target.get("url", ""))
    result = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert result.returncode == 9
    assert history.integrity_check() == "ok"
    assert [a.question_id for a in history.attempts_for("ana")] == ["ok"]
    _record(history)
    assert len(history.attempts_for("ana")) == 2


def _writer(target: dict[str, str], user: str, n: int) -> None:
    history = open_history(target)
    for i in range(n):
        history.record_attempt(
            user, question_id=f"q{i % 5}", topic="t", level="associate", kind="answer", score=5.0, status="scored",
            card_update=lambda stored: ("{}", "2030-01-01T00:00:00+00:00"),
        )  # fmt: skip


def test_two_tabs_of_the_same_user_both_store_every_attempt(history: History, target: dict[str, str]):
    threads = [threading.Thread(target=_writer, args=(target, "ana", 40)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert history.progress_counts("ana").attempts == 80


def test_two_processes_writing_at_once_both_store_every_attempt(history: History, target: dict[str, str]):
    _record(history)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(target, "ana", 30)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert history.progress_counts("ana").attempts == 61
    assert history.integrity_check() == "ok"


def test_concurrent_card_updates_of_one_user_lose_no_update(history: History):
    """Each write reads the card and writes it back one higher: with every write of a user serialised, no
    increment is lost (on PostgreSQL the user's row lock does this, on SQLite BEGIN IMMEDIATE)."""

    def bump(stored: str | None) -> tuple[str, str]:
        count = json.loads(stored)["n"] if stored else 0
        return json.dumps({"n": count + 1}), "2030-01-01T00:00:00+00:00"

    def tab() -> None:
        for _ in range(15):
            _record(history, "ana", card_update=bump)

    threads = [threading.Thread(target=tab) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert json.loads(history.cards_for("ana")["q1"]) == {"n": 45}
    assert history.progress_counts("ana").attempts == 45


def test_exports(history: History):
    _record(history, answer='He said "hi",\nthen <b>left</b>')
    _record(history, kind="skip", grade_json=None, score=None, status="none")
    data = json.loads(history.export_json("ana"))
    assert data["user"] == "ana" and len(data["attempts"]) == 2
    assert data["attempts"][0]["grade"]["band"] == "partial" and data["attempts"][1]["grade"] is None
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(history.export_csv("ana"))))
    assert [r["kind"] for r in rows] == ["answer", "skip"]
    assert rows[0]["answer"] == 'He said "hi",\nthen <b>left</b>'
    assert rows[0]["band"] == "partial" and rows[0]["feedback"] == "ok"
    assert rows[0]["question"] == "" and rows[0]["parent_attempt_id"] == ""


def test_exports_name_the_question_asked_and_link_a_follow_up_to_its_parent(history: History):
    import csv
    import io

    parent = _record(history, question_id="q1")
    child = _record(history, question_id="q1--fu", kind="followup", parent_attempt_id=parent)
    asked = {"q1": "What is S3?", "q1--fu": '=cmd|"/c calc"!A1 and what about Glacier?'}.get
    data = json.loads(history.export_json("ana", asked))["attempts"]
    assert [(a["id"], a["question_id"], a["question"], a["parent_attempt_id"]) for a in data] == [
        (parent, "q1", "What is S3?", None), (child, "q1--fu", asked("q1--fu"), parent),
    ]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(history.export_csv("ana", asked))))
    assert list(rows[0])[:6] == ["id", "created_at", "user", "question_id", "question", "parent_attempt_id"]
    assert [(r["question_id"], r["question"], r["parent_attempt_id"]) for r in rows] == [
        ("q1", "What is S3?", ""), ("q1--fu", "'" + asked("q1--fu"), str(parent)),
    ]  # fmt: skip
    unknown = json.loads(history.export_json("ana", lambda question_id: None))["attempts"]
    assert [a["question"] for a in unknown] == ["", ""], "a question the bank no longer has exports no text"


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_exported_as_text(history: History):
    import csv
    import io

    for answer in ('=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "plain = fine"):
        _record(history, answer=answer)
    rows = list(csv.DictReader(io.StringIO(history.export_csv("ana"))))
    assert [r["answer"] for r in rows] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\t=1", "plain = fine"
    ]
    assert json.loads(history.export_json("ana"))["attempts"][0]["answer"].startswith("=HYPERLINK")


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match=r"not a database|damaged"):
        History(path).attempts_for("ana")


def test_user_names_are_normalised():
    assert normalise_user("  Ana   Lima ") == "Ana Lima"
    assert normalise_user("", "candidate") == "candidate"
    assert normalise_user(None, "x") == "x"
    assert len(normalise_user("n" * 500)) == 64


def test_last_scored_and_recent_scores_by_level_count_only_scored_answers(history: History):
    def add(question: str, level: str, kind: str, score: float | None, user: str = "ana") -> None:
        history.record_attempt(user, question_id=question, topic="vpc", level=level, kind=kind, score=score,
                               status="scored" if score is not None else "none")  # fmt: skip

    assert history.last_scored("ana", "q1") is None
    add("q1", "associate", "answer", 3.0)
    add("q1", "associate", "skip", None)
    add("q1", "associate", "idk", 0.0)
    add("q2", "associate", "answer", 9.0)
    add("q3", "professional", "answer", 7.5)
    add("q3", "professional", "followup", 1.0)
    add("q1", "associate", "answer", 8.0, user="bo")
    assert history.last_scored("ana", "q1").score == 0.0
    assert history.recent_scores_by_level("ana", 2) == {"associate": [9.0, 0.0], "professional": [7.5]}


# The schema exactly as rag/history.py created it before Alembic (schema_version 1), copied from that code.
LEGACY_SCHEMA = """
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

LEGACY_ATTEMPTS = [
    # id, user, question_id, topic, level, kind, answer, grade_json, grader, model, score, status, fell_back, hints,
    # created_at
    (1, "ana", "q1", "storage", "associate", "answer", "S3 is object storage", '{"band": "good", "score": 7.5}',
     "offline", "rules", 7.5, "scored", 0, 1, "2026-01-01T10:00:00+00:00"),
    (2, "Ana", "q2", "networking", "associate", "skip", "", None, "", "", None, "none", 0, 0,
     "2026-01-01T10:05:00+00:00"),
    (3, "bo", "q1", "storage", "professional", "idk", "", '{"band": "not-yet"}', "llm", "gpt-4o-mini", 0.0,
     "scored", 1, 2, "2026-01-02T09:00:00+00:00"),
    (5, "ana", "q1", "storage", "associate", "followup", "=SUM(A1)", None, "llm", "m", None, "unscored", 1, 0,
     "2026-01-03T08:00:00+00:00"),
]  # fmt: skip


def _legacy_database(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in LEGACY_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.executemany(
        "INSERT INTO users (name, created_at, pending_json) VALUES (?, ?, ?)",
        [("ana", "2026-01-01T09:00:00+00:00", '{"question_id": "q9", "hints": 2}'),
         ("bo", "2026-01-02T08:00:00+00:00", None)],
    )  # fmt: skip
    conn.executemany(f"INSERT INTO attempts VALUES ({', '.join('?' * 15)})", LEGACY_ATTEMPTS)
    conn.executemany(
        "INSERT INTO cards (user, question_id, card_json, due, updated_at) VALUES (?, ?, ?, ?, ?)",
        [("ana", "q1", '{"state": 2}', "2026-02-01T00:00:00+00:00", "2026-01-03T08:00:00+00:00"),
         ("bo", "q1", '{"state": 1}', "2026-01-05T00:00:00+00:00", "2026-01-02T09:00:00+00:00")],
    )  # fmt: skip
    conn.close()


def test_a_history_file_from_before_alembic_migrates_without_losing_anything(tmp_path: Path):
    data = tmp_path / "data"
    _legacy_database(data / DB_NAME)
    history = History.in_data_dir(data)
    try:
        stored = [tuple(a.__dict__.values()) for a in history.attempts_for("ana") + history.attempts_for("bo")]
        expected = [(*row[:12], bool(row[12]), *row[13:], None) for row in LEGACY_ATTEMPTS]
        assert sorted(stored) == sorted(expected)
        assert history.users() == ["ana", "bo"]
        assert history.pending("ANA") == {"question_id": "q9", "hints": 2}
        assert history.pending("bo") is None
        assert history.cards_for("ana") == {"q1": '{"state": 2}'}
        assert history.cards_for("bo") == {"q1": '{"state": 1}'}
        assert history.attempt("ana", 5).answer == "=SUM(A1)"
        assert stored_revisions(history) == [head_revision()]
        assert history.journal_mode() == "wal" and history.integrity_check() == "ok"
        new_id = _record(history, "ana")
        assert new_id == 6, "AUTOINCREMENT carries on after the highest id ever used"
        assert history.progress_counts("ana").attempts == 4
    finally:
        history.close()
    with sqlite3.connect(data / DB_NAME) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "schema_version" not in tables and {"users", "attempts", "cards", "alembic_version"} <= tables


def _alembic(target: dict[str, str], action: str, revision: str) -> None:
    """Run an Alembic upgrade or downgrade on the test's database, as `rag.database` does (no alembic.ini)."""
    from alembic import command
    from alembic.config import Config

    from rag.database import MIGRATIONS_DIR, sqlite_url

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if "path" in target:
        Path(target["path"]).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(sqlite_url(Path(target["path"])) if "path" in target else target["url"])
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def _down_and_up(target: dict[str, str], revision: str) -> History:
    """Downgrade to `revision`, upgrade back to head, and open the history again."""
    _alembic(target, "downgrade", revision)
    _alembic(target, "upgrade", "head")
    return open_history(target)


def test_migration_0003_adds_the_parent_link_and_keeps_every_attempt(target: dict[str, str]):
    _alembic(target, "upgrade", "0002")
    engine = sa.create_engine(History(**{k: Path(v) if k == "path" else v for k, v in target.items()}).url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (name, created_at) VALUES ('ana', '2026-01-01T09:00:00+00:00')"))
        for question_id, kind, score in (("q1", "answer", 6.0), ("q1", "followup", 2.5), ("q2", "skip", None)):
            conn.execute(
                sa.text(
                    "INSERT INTO attempts (\"user\", question_id, topic, level, kind, answer, grader, model, score, "
                    "status, fell_back, hints, created_at) VALUES ('ana', :q, 'storage', 'associate', :k, 'old', "
                    "'offline', 'rules', :s, 'scored', 0, 0, '2026-01-01T10:00:00+00:00')"
                ),
                {"q": question_id, "k": kind, "s": score},
            )
    engine.dispose()
    history = open_history(target)
    try:
        before = history.attempts_for("ana")
        assert stored_revisions(history) == [head_revision()] == ["0004"]
        assert [(a.question_id, a.kind, a.score, a.parent_attempt_id) for a in before] == [
            ("q1", "answer", 6.0, None), ("q1", "followup", 2.5, None), ("q2", "skip", None, None),
        ]  # fmt: skip
        child = _record(history, question_id="q1--fu", kind="followup", parent_attempt_id=before[0].id)
        assert history.attempt("ana", child).parent_attempt_id == before[0].id
    finally:
        history.close()
    history = _down_and_up(target, "0002")
    try:
        after = history.attempts_for("ana")
        assert len(after) == 4 and all(a.parent_attempt_id is None for a in after), "a downgrade drops only the link"
        assert [a.answer for a in after[:3]] == ["old"] * 3
    finally:
        history.close()


def test_a_database_from_a_newer_app_version_is_refused_clearly(target: dict[str, str]):
    history = open_history(target)
    _record(history)
    history.close()
    engine = sa.create_engine(history.url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(HistoryError, match="newer version of this app") as caught:
        open_history(target).attempts_for("ana")
    assert "\n" not in str(caught.value)


def test_an_answer_with_nul_characters_is_stored_without_them(history: History):
    attempt_id = _record(history, answer="before\x00after")
    assert history.attempt("ana", attempt_id).answer == "beforeafter"


def test_missing_postgres_binaries_say_how_to_install_them(monkeypatch):
    from rag import pg_server

    monkeypatch.setattr(pg_server.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pg_server.shutil, "which", lambda name: None)
    with pytest.raises(pg_server.PostgresUnavailable, match=r"make system-deps"):
        pg_server.TempPostgres()


def test_an_unreachable_database_server_is_one_line_saying_what_to_fix():
    history = History(url=f"postgresql+psycopg://prep:hunter2@127.0.0.1:{free_port()}/prep")
    with pytest.raises(HistoryError, match="check PREP_DATABASE_URL") as caught:
        history.attempts_for("ana")
    message = str(caught.value)
    assert "hunter2" not in message and "\n" not in message and "127.0.0.1" in message


@pytest.mark.integration
def test_a_wrong_password_is_one_line_without_the_password(postgres_url: str):
    url = sa.make_url(postgres_url).set(password="wrong-hunter2")
    with pytest.raises(HistoryError, match="password authentication failed") as caught:
        History(url=url.render_as_string(hide_password=False)).users()
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


def test_settings_choose_the_database(monkeypatch, tmp_path: Path):
    from rag.settings import Settings

    monkeypatch.setenv("PREP_DATABASE_URL", "postgresql+psycopg://prep:hunter2@db.internal:5432/prep")
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert "hunter2" not in repr(settings)
    history = History.from_settings(settings)
    assert history.backend == "postgresql" and history.where == "postgresql+psycopg://prep:***@db.internal:5432/prep"
    monkeypatch.setenv("PREP_DATABASE_URL", f"sqlite:///{tmp_path}/shared.sqlite3")
    history = History.from_settings(Settings(data_dir=tmp_path, _env_file=None))
    assert history.backend == "sqlite" and history.path == tmp_path / "shared.sqlite3"
    _record(history, card_update=lambda stored: ("{}", "2030-01-01T00:00:00+00:00"))
    assert History(tmp_path / "shared.sqlite3").cards_for("ana") == {"q1": "{}"}
    history.close()
    monkeypatch.setenv("PREP_DATABASE_URL", "")
    history = History.from_settings(Settings(data_dir=tmp_path, _env_file=None))
    assert history.backend == "sqlite" and history.path == tmp_path / DB_NAME


def test_filters_are_kept_per_user_and_survive_a_migration_round_trip(target: dict[str, str]):
    history = open_history(target)
    try:
        assert history.filters("ana") == ([], []), "nothing saved: no filters"
        history.set_filters("ana", ["networking", "security"], ["associate"])
        history.set_filters("bo", [], ["architect"])
        assert history.filters("ANA") == (["networking", "security"], ["associate"]), "names compare case-insensitively"
        assert history.filters("bo") == ([], ["architect"])
        history.set_filters("ana", [], [])
        assert history.filters("ana") == ([], [])
        history.set_filters("ana", ["storage"], [])
        _record(history, "ana")
    finally:
        history.close()
    history = _down_and_up(target, "0003")
    try:
        assert history.filters("ana") == ([], []), "a downgrade drops only the filters"
        assert len(history.attempts_for("ana")) == 1
    finally:
        history.close()


def test_progress_counts_and_pages_come_from_the_database(history: History):
    assert history.progress_counts("ana").attempts == 0 and history.attempts_page("ana", 10) == []
    made = ((6.0, "answer", "q1"), (None, "skip", "q2"), (0.0, "idk", "q2"), (3.0, "answer", "q3"))
    for score, kind, question in made:
        _record(history, question_id=question, kind=kind, score=score)
    _record(history, "bo", score=9.0)
    counts = history.progress_counts("ANA")
    assert (counts.attempts, counts.scored, counts.questions) == (4, 3, 3)
    assert counts.mean_score == pytest.approx(3.0), "skips do not count; an I-don't-know counts as 0"
    first, second = history.attempts_page("ana", 3, 0), history.attempts_page("ana", 3, 1)
    assert [a.question_id for a in first] == ["q3", "q2", "q2"] and [a.question_id for a in second] == ["q1"]
    assert history.attempts_page("ana", 3, 2) == []
