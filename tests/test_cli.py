"""`python -m rag`: parsing, output and errors through `main(argv)` in this process; one real process per command.

The in-process tests capture file descriptors 1 and 2 (`capfd`, so output a native library writes is seen too)
and the log records a real process would print to stderr. The tests marked "real process" run `python -m rag`
as a user does: the entry point, the exit code and stderr without a traceback.
"""

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.cli import build_parser, main
from rag.settings import get_settings


@dataclass
class Result:
    returncode: int | str | None
    stdout: str
    stderr: str
    logged: list[str] = field(default_factory=list)
    """Warnings and errors logged during the call: a real process with no logging set up prints them to stderr."""


def run_cli(*args: str, env: dict | None = None) -> Result:
    """`python -m rag ARGS` in a new interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", "rag", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Result(result.returncode, result.stdout, result.stderr)


def _chroma_clients() -> set[str]:
    module = sys.modules.get("chromadb.api.shared_system_client")
    return set(module.SharedSystemClient._identifier_to_system) if module else set()


@pytest.fixture
def cli(capfd, caplog, monkeypatch):
    """`main(argv)` as `python -m rag` runs it, with the test's environment (set it with monkeypatch.setenv).

    Settings are read afresh for every call and the cache is cleared after it; Chroma clients opened during the
    test are closed and forgotten at its end, so no test leaves cached state behind.
    """
    from rag.store import _forget_cached_client

    monkeypatch.delenv("PREP_DEBUG", raising=False)  # errors are caught and printed, as for a user
    clients_before = _chroma_clients()

    def call(*args: str) -> Result:
        capfd.readouterr()
        caplog.clear()
        get_settings.cache_clear()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help and usage errors
            code = exc.code
        finally:
            get_settings.cache_clear()
        out, err = capfd.readouterr()
        logged = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
        return Result(code, out, err, logged)

    yield call
    for path in _chroma_clients() - clients_before:
        _forget_cached_client(Path(path))


def assert_clean_error(result: Result, fragment: str) -> None:
    """Exit code 2 and one `error: ...` line: no traceback, no exception escaping main, nothing else on stderr."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert result.logged == [], result.logged


# One real process per command ------------------------------------------------------------------------------------


def test_ingest_of_a_folder_without_markdown_keeps_the_index(tmp_path, guide_settings, guide_store):
    """Real process: `ingest`."""
    before = guide_store.count()
    (tmp_path / "notes.txt").write_text("no markdown here")
    result = run_cli("ingest", "--corpus", str(tmp_path), env={"PREP_DATA_DIR": str(guide_settings.data_dir)})
    assert_clean_error(result, "holds no Markdown")
    assert guide_store.count() == before


def test_search_of_a_corrupt_index_in_a_real_process_is_one_clear_error(tmp_path):
    """Real process: `search`, whose error comes from Chroma's native code."""
    data = tmp_path / "data"
    (data / "chroma").mkdir(parents=True)
    (data / "chroma" / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    assert_clean_error(run_cli("search", "vpc", env={"PREP_DATA_DIR": str(data)}), "--rebuild")


def test_malformed_question_file_in_a_real_process_is_one_clear_error(tmp_path):
    """Real process: `questions`."""
    bad = tmp_path / "questions.yaml"
    bad.write_text("questions:\n  - id: x\n    level: guru\n")
    assert_clean_error(run_cli("questions", env={"PREP_QUESTIONS_FILE": str(bad)}), f"{bad}: question x, field")


def test_grade_of_an_unknown_question_in_a_real_process_is_one_clear_error():
    """Real process: `grade`."""
    assert_clean_error(run_cli("grade", "--question-id", "no-such-follow-up", "--answer", "x"), "no question with id")


def test_doctor_in_a_real_process_finds_every_component_working(guide_settings, guide_store):
    """Real process: `doctor` on the test session's index exits 0 with every line ok."""
    result = run_cli("doctor", env={"PREP_DATA_DIR": str(guide_settings.data_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    rows = result.stdout.strip().splitlines()
    assert rows and all(row.startswith("ok ") for row in rows), result.stdout
    names = {row.split()[1] for row in rows}
    assert names >= {"settings", "grader", "history", "questions", "embedding", "parser", "index"}, names


# In process: parsing, output and error messages ------------------------------------------------------------------


def test_help_lists_every_command_and_each_command_has_help(cli):
    top = cli("--help")
    assert top.returncode == 0
    commands = build_parser()._subparsers._group_actions[0].choices
    for command in commands:
        assert command in top.stdout
        sub = cli(command, "--help")
        assert sub.returncode == 0 and "usage: python -m rag " + command in sub.stdout


def test_questions_lists_and_filters(cli):
    result = cli("questions", "--topic", "security", "--json")
    assert result.returncode == 0
    questions = json.loads(result.stdout)
    assert questions and {q["topic"] for q in questions} == {"security"}


def test_questions_list_each_follow_up_with_its_id_and_parent(cli, question_bank):
    questions = json.loads(cli("questions", "--json").stdout)
    assert [q["id"] for q in questions] == [q.id for q in question_bank.questions]
    follow_ups = [fu for q in questions for fu in q["follow_ups"]]
    assert len(follow_ups) == len(question_bank.follow_ups)
    for question in questions:
        for follow_up in question["follow_ups"]:
            assert follow_up["parent"] == question["id"] and follow_up["id"] and follow_up["key_points"]
            assert follow_up["topic"] == question["topic"] and follow_up["follow_ups"] == []
    text = cli("questions", "--topic", "networking").stdout
    first = next(q for q in question_bank.questions if q.topic == "networking")
    assert f"follow-up {first.follow_ups[0].id}" in text and first.follow_ups[0].question in text


def test_grade_a_follow_up_against_its_own_key_points(cli, question_bank):
    follow_up = question_bank.get("vpc-nat-gateway-az-failure")
    result = cli(
        "grade", "--question-id", follow_up.id, "--grader", "offline", "--no-retrieval", "--json",
        "--answer", "A NAT gateway is zonal: when its AZ fails, instances in other AZs routing through it lose "
        "internet access. Put one NAT gateway in each AZ with per-AZ route tables; that also avoids cross-AZ charges.",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    grade = json.loads(result.stdout)
    assert [kp["key_point_id"] for kp in grade["key_points"]] == [kp.id for kp in follow_up.key_points]
    assert grade["score"] >= 8
    assert_clean_error(cli("grade", "--question-id", "no-such-follow-up", "--answer", "x"), "no question with id")


def test_search_prints_passages_and_json(cli, monkeypatch, guide_store, guide_settings):
    monkeypatch.setenv("PREP_DATA_DIR", str(guide_settings.data_dir))
    text = cli("search", "envelope encryption with data keys", "-k", "2")
    assert text.returncode == 0 and "kms-envelope-encryption" in text.stdout
    data = json.loads(cli("search", "dead letter queue", "--json").stdout)
    assert data[0]["section_id"] == "dead-letter-queues"
    assert set(data[0]) >= {"section_id", "title", "topic", "score", "text"}
    only = json.loads(cli("search", "queue", "--topic", "storage", "--json").stdout)
    assert only and {p["topic"] for p in only} == {"storage"}


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_search_is_one_clear_error(cli, query):
    assert_clean_error(cli("search", query), "the search query is empty")


def test_bad_k_is_a_usage_error(cli):
    result = cli("search", "vpc", "-k", "0")
    assert result.returncode == 2 and "-k must be at least 1" in result.stderr


def test_ingest_of_a_team_folder_into_its_own_collection(cli, monkeypatch, tmp_path):
    (tmp_path / "runbook.md").write_text("## Deploys\nWe deploy with blue/green on Tuesdays.\n")
    monkeypatch.setenv("PREP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PREP_COLLECTION", "team_notes")
    first = cli("ingest", "--corpus", str(tmp_path), "--quiet")
    assert first.returncode == 0 and "1 chunks added" in first.stdout
    found = json.loads(cli("search", "when do we deploy", "--json").stdout)
    assert found[0]["section_id"] == "runbook--deploys"


def test_malformed_question_file_is_one_clear_error(cli, monkeypatch, tmp_path):
    bad = tmp_path / "questions.yaml"
    bad.write_text("questions:\n  - id: x\n    level: guru\n")
    monkeypatch.setenv("PREP_QUESTIONS_FILE", str(bad))
    assert_clean_error(cli("questions"), f"{bad}: question x, field")


def test_rebuild_moves_a_corrupt_index_aside(cli, monkeypatch, tmp_path):
    data = tmp_path / "data"
    (data / "chroma").mkdir(parents=True)
    (data / "chroma" / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    corpus = tmp_path / "corpus"  # a one-section corpus: indexing the whole guide is guide_store's job
    corpus.mkdir()
    (corpus / "vpc.md").write_text("## VPC\nA VPC spans every Availability Zone of its Region.\n")
    monkeypatch.setenv("PREP_DATA_DIR", str(data))
    monkeypatch.setenv("PREP_CORPUS_DIR", str(corpus))
    assert_clean_error(cli("search", "vpc"), "--rebuild")
    rebuilt = cli("ingest", "--rebuild", "--quiet")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Moved the old index" in rebuilt.stdout
    assert any(p.name.startswith("chroma.damaged-") for p in data.iterdir())


def test_a_bad_setting_is_one_line_naming_the_variable(cli, monkeypatch):
    monkeypatch.setenv("CHROMA_PORT", "abc")
    result = cli("doctor")
    assert result.returncode == 2
    err = result.stderr.strip()
    assert err.startswith("error: CHROMA_PORT='abc' is not valid") and "\n" not in err


def test_doctor_redacts_credentials_in_the_llm_base_url(cli, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://user:hunter2@127.0.0.1:9/v1")
    assert "hunter2" not in cli("doctor").stdout


def test_an_empty_api_key_means_unset(monkeypatch):
    from rag.settings import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    settings = Settings(_env_file=None)
    assert settings.openai_api_key is None and settings.active_grader == "offline"


def test_the_settings_table_lists_every_setting_and_the_cli_reference_every_command():
    from rag.settings import ENVIRONMENT_ONLY, PROJECT_ROOT, Settings

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/cli.md" in readme and "docs/settings.md" in readme
    table = (PROJECT_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field_info in Settings.model_fields.items():
        alias = field_info.validation_alias
        names = alias.choices if alias is not None else [f"PREP_{name.upper()}"]
        assert f"| `{names[0]}` |" in table, f"docs/settings.md lacks the setting {names[0]}"
    for name in ENVIRONMENT_ONLY:
        assert f"| `{name}` |" in table
    reference = (PROJECT_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    commands = build_parser()._subparsers._group_actions[0].choices
    for command in commands:
        assert f"## `python -m rag {command}`" in reference, f"docs/cli.md lacks `python -m rag {command}`"
    from evals.cli import build_parser as evals_parser

    for command in evals_parser()._subparsers._group_actions[0].choices:
        assert f"## `python -m evals {command}`" in reference, f"docs/cli.md lacks `python -m evals {command}`"


def test_doctor_reports_the_history_database_without_its_password(cli, monkeypatch):
    from rag.pg_server import free_port

    monkeypatch.setenv("PREP_DATABASE_URL", f"postgresql+psycopg://prep:hunter2@127.0.0.1:{free_port()}/prep")
    result = cli("doctor")
    assert result.returncode == 1
    assert "hunter2" not in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.split()[1:2] == ["history"])
    assert row.startswith("ERR") and "prep:***@127.0.0.1" in row and "PREP_DATABASE_URL" in row


def test_doctor_reports_an_index_whose_ingest_did_not_finish(cli, monkeypatch, tmp_path, embedder):
    from rag.corpus import load_corpus
    from rag.settings import Settings
    from rag.store import IN_PROGRESS, VectorStore
    from tests.test_store import NOTES, write_corpus

    monkeypatch.setenv("PREP_DATA_DIR", str(tmp_path / "data"))
    store = VectorStore(Settings(data_dir=tmp_path / "data", _env_file=None), embedder=embedder)
    store.ingest(load_corpus(write_corpus(tmp_path / "notes", NOTES)))
    store._mark_ingest(IN_PROGRESS)  # what a killed ingest leaves
    result = cli("doctor")
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.split()[1:2] == ["index"])
    assert row.startswith("ERR") and "did not finish" in row


def test_doctor_checks_the_parsers_weights(cli, monkeypatch):
    from rag.grading import roles

    assert any(line.startswith("ok") and "parser" in line for line in cli("doctor").stdout.splitlines())
    monkeypatch.setitem(roles.PARSER_SHA256, "parser/model", "0" * 64)
    result = cli("doctor")
    assert result.returncode == 1
    parser_line = next(line for line in result.stdout.splitlines() if " parser " in line)
    assert parser_line.startswith("ERR") and "refusing to load unverified" in parser_line
