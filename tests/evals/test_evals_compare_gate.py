"""`compare` on two synthetic runs and `gate` exit codes."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from evals.cli import main
from evals.compare import compare_runs, item_moves
from evals.gate import GRADERS, TARGETS, THRESHOLDS_FILE, evaluate, load_results, load_thresholds
from evals.runner import benchmark_plan, execute_run, team_plan
from rag.settings import PROJECT_ROOT

from .conftest import FIXTURES, FakeGrader, bench_config, team_config, two_passages

SPEED_THRESHOLDS_FILE = THRESHOLDS_FILE.with_name("speed_thresholds.yaml")


@pytest.fixture
def two_runs(tmp_path, settings) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    execute_run(old, team_plan(team_config(), two_passages), FakeGrader(), settings, show_progress=False)
    # the new grader gives full credit to anything mentioning "something": the wrong answers move up
    execute_run(
        new, team_plan(team_config(), two_passages), FakeGrader(bonus="something", model="fake-2"), settings,
        show_progress=False,
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
    execute_run(run, benchmark_plan(bench_config()), FakeGrader(), settings, show_progress=False)
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
    execute_run(run, benchmark_plan(bench_config()), FakeGrader(), settings, show_progress=False)
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


def test_make_test_gates_enforce_no_wall_clock_speed_and_the_target_is_the_bench_floor():
    def speed_gates(families: dict) -> list[str]:
        return [
            family
            for family, gates in families.items()
            for scope in (gates, *(gates.get(grader) or {} for grader in GRADERS))
            if "answers_per_second_min" in scope
        ]

    thresholds = load_thresholds()
    assert speed_gates({k: v for k, v in thresholds.items() if k != TARGETS}) == []
    bench = load_thresholds(SPEED_THRESHOLDS_FILE)
    target = thresholds[TARGETS]["scientsbank"]["offline"]["answers_per_second_min"]
    assert bench["scientsbank"]["offline"]["answers_per_second_min"] == target


def make_bench_commands(runs_dir: Path) -> dict[str, list[str]]:
    """The `python -m evals` commands `make bench` runs with EVAL_RUNS=runs_dir (a dry run: nothing is executed)."""
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "bench", f"EVAL_RUNS={runs_dir}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    commands = [shlex.split(line)[3:] for line in dry_run.stdout.splitlines() if " -m evals " in line]
    return {args[0]: args for args in commands}


def test_make_bench_speed_gate_passes_a_fast_run_and_fails_a_slow_one(tmp_path, settings, capsys, monkeypatch):
    commands = make_bench_commands(tmp_path)
    benchmark, gate = commands["benchmark"], commands["gate"]
    run = Path(benchmark[benchmark.index("--out") + 1])
    assert Path(gate[-1]) == run and "--grader" in benchmark and benchmark[benchmark.index("--grader") + 1] == "offline"
    # the fake grader on a file named as `make bench`'s dataset is, to the gate, `make bench`'s SciEntsBank run
    dataset = tmp_path / Path(benchmark[1]).name
    shutil.copy(FIXTURES / "bench.csv", dataset)
    execute_run(run, benchmark_plan(bench_config(dataset)), FakeGrader(), settings, show_progress=False)
    results = load_results(run)
    assert isinstance(results["metrics"]["cost"]["answers_per_second"], float)
    floor = load_thresholds(SPEED_THRESHOLDS_FILE)["scientsbank"]["offline"]["answers_per_second_min"]

    def gate_at(answers_per_second: float) -> tuple[int, str]:
        results["metrics"]["cost"]["answers_per_second"] = answers_per_second
        (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
        code = main(gate)  # as `make bench` runs it, from the project root
        out, err = capsys.readouterr()
        assert "warning" not in err, err
        return code, out

    monkeypatch.chdir(PROJECT_ROOT)
    code, out = gate_at(floor)
    assert code == 0 and "all 1 gate(s) pass" in out
    assert next(line for line in out.splitlines() if "answers_per_second_min" in line).endswith("pass")
    code, out = gate_at(floor * 0.9)
    assert code == 1 and "1 of 1 gate(s) failed" in out
    assert next(line for line in out.splitlines() if "answers_per_second_min" in line).endswith("FAIL")
    # `make test` and `make evals` gate with evals/thresholds.yaml: the same slow run's speed is a target only
    speed = [row for row in evaluate(results, load_thresholds(), str(run)) if row.gate == "answers_per_second_min"]
    assert [(row.enforced, row.status) for row in speed] == [(False, "target unmet")]
