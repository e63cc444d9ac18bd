"""`python -m evals`: --help on every subcommand, one error line and exit 2 on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evals.cli import main
from rag.settings import PROJECT_ROOT

from .conftest import FIXTURES

HELP_MENTIONS = {
    "run": ["--grader", "--repeats", "--out", "--resume", "--concurrency", "--passages", "--no-order-check"],
    "benchmark": ["--grader", "--repeats", "--out", "--resume", "--splits", "--limit", "--threshold"],
    "compare": ["OLD", "NEW", "--min-delta", "--limit", "--out"],
    "gate": ["RUN_DIR", "--thresholds", "exits 1"],
}


@pytest.mark.parametrize("command", sorted(HELP_MENTIONS))
def test_help_of_each_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in HELP_MENTIONS[command]:
        assert option in out


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "evals", "--help"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0
    for command in HELP_MENTIONS:
        assert command in result.stdout


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_missing_benchmark_file(tmp_path, capsys):
    assert main(["benchmark", str(tmp_path / "none.csv")]) == 2
    assert "benchmark file not found" in one_error_line(capsys)


def test_malformed_benchmark_csv(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("question,answer\nq,a\n")
    assert main(["benchmark", str(path)]) == 2
    assert "missing column(s)" in one_error_line(capsys)


def test_unknown_set(capsys):
    assert main(["run", "team-does-not-exist", "--questions", str(FIXTURES / "bank.yaml")]) == 2
    assert "unknown eval set 'team-does-not-exist'" in one_error_line(capsys)


def test_invalid_set_file(tmp_path, capsys):
    path = tmp_path / "team-x.jsonl"
    path.write_text('{"id": "x"}\n')
    assert main(["run", str(path), "--questions", str(FIXTURES / "bank.yaml")]) == 2
    assert f"{path}:1: field 'question_id'" in one_error_line(capsys)


def test_resume_of_a_directory_that_is_no_run(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in one_error_line(capsys)


def test_bad_option_value(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--repeats", "0"])
    assert exc.value.code == 2
    assert "--repeats: 0 must be at least 1" in one_error_line(capsys)


def test_llm_grader_without_configuration(capsys):
    assert main(["run", str(FIXTURES / "team-tiny.jsonl"), "--questions", str(FIXTURES / "bank.yaml"),
                 "--grader", "llm", "--passages", "none"]) == 2
    assert "the LLM grader needs OPENAI_API_KEY or OPENAI_BASE_URL" in one_error_line(capsys)
