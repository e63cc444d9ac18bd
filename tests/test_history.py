"""The practice history: SQLite in WAL mode, one transaction per write, safe for two tabs and crashes."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rag.history import History, HistoryError, normalise_user


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


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History.in_data_dir(tmp_path / "data")


def test_database_uses_wal_and_a_schema_version(history: History):
    _record(history)
    assert history.journal_mode().lower() == "wal"
    with sqlite3.connect(history.path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_attempts_round_trip_per_user(history: History):
    first = _record(history, "ana")
    _record(history, "bo", question_id="q2", topic="networking", score=3.0)
    _record(history, "Ana", question_id="q3", kind="skip", grade_json=None, score=None, status="none")
    ana = history.attempts_for("ana")
    assert [a.question_id for a in ana] == ["q1", "q3"], "user names are case-insensitive"
    assert ana[0].id == first and ana[0].grade_dict()["band"] == "partial"
    assert [a.question_id for a in history.attempts_for("bo")] == ["q2"]
    assert history.attempts_for("ana", limit=1)[0].question_id == "q3"
    assert history.count_attempts("ana") == 2
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


def test_cards_and_pending_state(history: History):
    history.save_card("ana", "q1", '{"due": "x"}', "2030-01-01T00:00:00+00:00")
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
history = History(Path({path!r}))
history.record_attempt("ana", question_id="ok", topic="t", level="associate", kind="skip")
def die(stored):
    os._exit(9)  # the process dies mid-transaction: no rollback, no cleanup
history.record_attempt("ana", question_id="lost", topic="t", level="associate", kind="skip", card_update=die)
"""


def test_a_process_killed_mid_write_leaves_a_consistent_database(history: History):
    root = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run([sys.executable, "-c", CRASHER.format(root=root, path=str(history.path))], timeout=60)
    assert result.returncode == 9
    assert history.integrity_check() == "ok"
    assert [a.question_id for a in history.attempts_for("ana")] == ["ok"]
    _record(history)
    assert len(history.attempts_for("ana")) == 2


def _writer(path: str, user: str, n: int) -> None:
    history = History(Path(path))
    for i in range(n):
        history.record_attempt(
            user, question_id=f"q{i % 5}", topic="t", level="associate", kind="answer", score=5.0, status="scored",
            card_update=lambda stored: ("{}", "2030-01-01T00:00:00+00:00"),
        )  # fmt: skip


def test_two_tabs_of_the_same_user_both_store_every_attempt(history: History):
    threads = [threading.Thread(target=_writer, args=(str(history.path), "ana", 40)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert history.count_attempts("ana") == 80


def test_two_processes_writing_at_once_both_store_every_attempt(history: History):
    _record(history)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(history.path), "ana", 30)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert history.count_attempts("ana") == 61
    assert history.integrity_check() == "ok"


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
