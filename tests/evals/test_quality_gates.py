"""The offline grader against the gates in evals/thresholds.yaml, as `make evals` runs it, inside `make test`.

The whole team sets (with repeats and the passage-order check), the SciEntsBank train and test splits
and the generated suites are graded through the real CLI; the SciEntsBank decision threshold is fitted on
the train split only.
The run directories stay in evals/runs/ci-* so a failing gate can be read in report.md / report.html.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import PROJECT_ROOT

SCIENTSBANK = PROJECT_ROOT.parent / "shared" / "datasets" / "scientsbank" / "scientsbank_2way.csv"
RUNS = PROJECT_ROOT / "evals" / "runs"
RUN_TIMEOUT_S = 1800
"""A whole run's limit. The SciEntsBank run (10,804 answers) takes 6-17 minutes on 2 cores, depending on
the CPU, more than the suite's default per-test timeout (pyproject.toml), so these tests have their own."""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT_S + 120)]


def evals_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m evals ...` in a child process with this session's settings (its indexed guide, no LLM)."""
    return subprocess.run(
        [sys.executable, "-m", "evals", *map(str, args)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def fresh_run(name: str, *args: str | Path) -> Path:
    out = RUNS / name
    shutil.rmtree(out, ignore_errors=True)
    finished = evals_cli(*args, "--grader", "offline", "--no-progress", "--out", out)
    assert finished.returncode in (0, 1), f"`python -m evals {args[0]}` crashed:\n{finished.stderr[-3000:]}"
    assert (out / "results.json").is_file() and (out / "report.html").is_file(), finished.stderr[-3000:]
    return out


def assert_gates_pass(run_dir: Path) -> None:
    gate = evals_cli("gate", run_dir)
    assert gate.returncode == 0, f"gates failed for {run_dir} (see its report.md):\n{gate.stdout}{gate.stderr}"


def test_the_offline_grader_passes_the_team_set_gates(guide_store):
    assert_gates_pass(fresh_run("ci-team", "run"))


@pytest.mark.skipif(not SCIENTSBANK.is_file(), reason=f"{SCIENTSBANK} is not available")
def test_the_offline_grader_passes_the_scientsbank_gates():
    splits = ("train", "test-unseen-answers", "test-unseen-questions", "test-unseen-domains")
    assert_gates_pass(fresh_run("ci-scientsbank", "benchmark", SCIENTSBANK, "--splits", *splits))


def test_the_offline_grader_passes_the_generated_suite_gates():
    out = RUNS / "ci-suites"
    shutil.rmtree(out, ignore_errors=True)
    finished = evals_cli("suites", "--grader", "offline", "--no-progress", "--out", out)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert_gates_pass(out)
