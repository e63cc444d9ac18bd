"""`compare` on two synthetic runs and `gate` exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.cli import main
from evals.compare import compare_runs, item_moves
from evals.gate import GRADERS, TARGETS, THRESHOLDS_FILE, load_results, load_thresholds
from evals.runner import execute_benchmark, execute_team
from rag.settings import PROJECT_ROOT

from .conftest import FakeGrader, bench_config, team_config, two_passages


@pytest.fixture
def two_runs(tmp_path, settings) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    execute_team(old, team_config(), FakeGrader(), settings, two_passages, show_progress=False)
    # the new grader gives full credit to anything mentioning "something": the wrong answers move up
    execute_team(
        new, team_config(), FakeGrader(bonus="something", model="fake-2"), settings, two_passages, show_progress=False
    )
    return old, new


def test_compare_reports_metrics_and_moved_items(two_runs):
    old, new = two_runs
    text = compare_runs(old, new)
    assert "| config: model | fake-1 | fake-2 |" in text
    assert "accuracy.qwk" in text and "▼ worse" in text
    assert "| ranking.ranking | 0.977 | 0.864 | -0.114 | ▼ worse |" in text
    assert "| accuracy.n | 12 | 12 | +0 |  |" in text
    assert "### Items that moved: 3 (3 up, 0 down)" in text
    for item_id in ("one-wrong", "one-padded", "one-attack"):
        assert f"| {item_id} |" in text
    assert "+10.0" in text
    assert "### Gates that changed" in text and "| qwk_min | pass | FAIL |" in text


def test_item_moves_respects_min_delta(two_runs):
    old, new = (load_results(p) for p in two_runs)
    assert len(item_moves(old, new, min_delta=0)["moved"]) == 3
    assert item_moves(old, new, min_delta=20)["moved"] == []


def test_compare_cli_writes_file(two_runs, tmp_path, capsys):
    out = tmp_path / "comparison.md"
    assert main(["compare", *map(str, two_runs), "--limit", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    assert "… and 2 more (use --limit)." in printed


def test_gate_passes_and_fails(two_runs, capsys):
    old, new = two_runs
    assert main(["gate", str(old)]) == 0
    assert "all 8 gate(s) pass" in capsys.readouterr().out
    assert main(["gate", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "qwk_min" in out and str(new) in out


def benchmark_run(tmp_path: Path, settings) -> tuple[Path, Path]:
    """A finished benchmark run of the fake grader, and where its thresholds file goes."""
    run = tmp_path / "run"
    execute_benchmark(run, bench_config(), FakeGrader(), settings, show_progress=False)
    return run, tmp_path / "thresholds.yaml"


def test_gate_with_custom_thresholds_and_per_split_gates(tmp_path, settings, capsys):
    run, thresholds = benchmark_run(tmp_path, settings)
    thresholds.write_text(
        "bench:\n  macro_f1_min: {test-unseen-questions: 0.9, missing-split: 0.9}\n"
        "  offline: {answers_per_second_min: 1}\n"
    )
    assert main(["gate", str(run), "--thresholds", str(thresholds)]) == 0
    out = capsys.readouterr().out
    assert "macro_f1_min[test-unseen-questions]" in out and "n/a" in out
    thresholds.write_text("bench:\n  macro_f1_min: {test-unseen-questions: 1.01}\n")
    assert main(["gate", str(run), "--thresholds", str(thresholds)]) == 1


def test_targets_are_reported_but_never_fail_the_gate(tmp_path, settings, capsys):
    run, thresholds = benchmark_run(tmp_path, settings)
    thresholds.write_text(
        "bench:\n  macro_f1_min: {test-unseen-questions: 0.0}\n"
        "targets:\n  bench:\n    macro_f1_min: {test-unseen-questions: 1.01}\n"
    )
    assert main(["gate", str(run), "--thresholds", str(thresholds)]) == 0
    out = capsys.readouterr().out
    assert "target unmet" in out and "all 1 gate(s) pass; 1 target(s) not met yet" in out
    thresholds.write_text("targets:\n  bench:\n    no_such_gate: 1\n")
    assert main(["gate", str(run), "--thresholds", str(thresholds)]) == 2
    assert "targets.bench: unknown gate 'no_such_gate'" in capsys.readouterr().err


def test_gate_warns_when_nothing_applies(tmp_path, settings, capsys):
    run = tmp_path / "run"
    execute_benchmark(run, bench_config(), FakeGrader(), settings, show_progress=False)
    assert main(["gate", str(run)]) == 0
    assert "no gate" in capsys.readouterr().err


def test_gate_usage_errors_exit_2(tmp_path, two_runs, capsys):
    old, _ = two_runs
    assert main(["gate", str(tmp_path / "missing")]) == 2
    assert "no results.json" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("team:\n  qwk_minimum: 0.8\n")
    assert main(["gate", str(old), "--thresholds", str(bad)]) == 2
    assert "unknown gate 'qwk_minimum'" in capsys.readouterr().err
    bad.write_text("team:\n  qwk_min: high\n")
    assert main(["gate", str(old), "--thresholds", str(bad)]) == 2
    assert "must be a number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["gate"])
    assert exc.value.code == 2


def test_gate_on_an_unfinished_run_says_so(tmp_path, capsys):
    (tmp_path / "progress.jsonl").write_text("")
    assert main(["gate", str(tmp_path)]) == 2
    assert "did not finish; resume it with --resume" in capsys.readouterr().err


def test_make_test_gates_enforce_no_wall_clock_speed_and_make_bench_enforces_the_target():
    def speed_gates(families: dict) -> list[str]:
        return [
            family
            for family, gates in families.items()
            for scope in (gates, *(gates.get(grader) or {} for grader in GRADERS))
            if "answers_per_second_min" in scope
        ]

    thresholds = load_thresholds()
    assert speed_gates({k: v for k, v in thresholds.items() if k != TARGETS}) == []
    bench = load_thresholds(THRESHOLDS_FILE.with_name("speed_thresholds.yaml"))
    target = thresholds[TARGETS]["scientsbank"]["offline"]["answers_per_second_min"]
    assert bench["scientsbank"]["offline"]["answers_per_second_min"] == target
    assert "speed_thresholds.yaml" in (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
