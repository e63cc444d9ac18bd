"""docs/evals.md's performance section and the bench run's speed figures it keeps in docs/."""

from __future__ import annotations

import json

import pytest

from evals.docs import bench_throughput, performance_section


def test_the_bench_runs_speed_is_kept_and_shown(tmp_path):
    run = tmp_path / "bench-scientsbank"
    run.mkdir()
    cost = {"gradings_this_session": 10804, "seconds": 211.5, "answers_per_second": 51.0823}
    results = {"finished_at": "2026-12-05T00:04:00+00:00", "metrics": {"cost": cost}}
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    kept = bench_throughput(run)
    assert kept == {"date": "2026-12-05", "answers": 10804, "seconds": 211.5, "answers_per_second": 51.08}
    table = "\n".join(performance_section(None, None, kept))
    assert "| scientsbank: answers_per_second | 51.080 |" in table
    assert "Not measured" not in table


def test_a_missing_bench_run_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="make bench"):
        bench_throughput(tmp_path / "nowhere")


def test_nothing_measured_says_so():
    assert "Not measured: run `make bench`." in performance_section(None, None, None)
