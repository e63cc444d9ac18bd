"""Runs with a fake grader: results.json, reports, resume, the response cache."""

from __future__ import annotations

import json
import re

import pytest

from evals.cache import ResponseCache
from evals.cli import build_parser, cmd_benchmark, cmd_run
from evals.rundir import PROGRESS_FILE, load_progress
from evals.runner import benchmark_plan, execute_run, team_plan

from .conftest import FIXTURES, FakeGrader, bench_config, team_config, two_passages

N_ITEMS = 12
NON_EMPTY = 11


class InterruptingGrader(FakeGrader):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def grade(self, question, answer, passages):
        if self.calls >= self.after:
            raise KeyboardInterrupt
        return super().grade(question, answer, passages)


def test_team_run_writes_results_and_reports(tmp_path, fake_grader, settings):
    results = execute_run(tmp_path, team_plan(team_config(), two_passages), fake_grader, settings, show_progress=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["kind"] == "team"
    assert saved["config"]["repeats"] == 2 and saved["config"]["grader"] == "offline"
    assert saved["config"]["thresholds"]["qwk_min"] == 0.8
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", saved["git_commit"])
    assert saved["versions"]["python"] and "numpy" in saved["versions"]["packages"]
    assert len(saved["items"]) == N_ITEMS
    runs = saved["items"][0]["runs"]
    assert sorted((r["variant"], r["repeat"]) for r in runs) == [("main", 0), ("main", 1), ("shuffled", 0)]
    m = results["metrics"]
    assert m["consistency"]["identical_share"] == 1.0
    assert m["order"]["unchanged_share"] == 1.0
    assert m["robustness"]["attack_success_rate"] == 0.0
    assert m["accuracy"]["qwk"] > 0.9
    applied = [g for g in saved["gates"] if g["passed"] is not None]
    assert applied and all(g["passed"] for g in applied)
    assert {g["gate"] for g in applied} >= {"qwk_min", "repeat_identical"}
    md = (tmp_path / "report.md").read_text()
    assert "### Gates: ✅ all gates pass" in md and "Definitions" in md and "QWK" in md
    assert len(md) < 60_000


def test_report_html_is_self_contained_with_charts(tmp_path, fake_grader, settings):
    execute_run(tmp_path, team_plan(team_config(), two_passages), fake_grader, settings, show_progress=False)
    page = (tmp_path / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "@import" not in page
    assert page.count("<svg") >= 4
    for caption in ("Score vs gold", "Bands: gold (rows) vs grader (columns)", "Per-topic accuracy",
                    "Per-item score SD"):
        assert caption in page
    assert "<circle" in page and "<rect" in page


def test_benchmark_run_reports_threshold_fitted_on_train(tmp_path, fake_grader, settings):
    results = execute_run(tmp_path, benchmark_plan(bench_config()), fake_grader, settings, show_progress=False)
    assert results["metrics"]["threshold"]["fitted_on"].startswith("train split (4 answers)")
    assert results["metrics"]["splits"]["test-unseen-questions"]["macro_f1"] == 1.0
    md = (tmp_path / "report.md").read_text()
    assert "threshold t" in md and "fitted on train split" in md
    page = (tmp_path / "report.html").read_text()
    assert "Scores by gold label" in page and "Confusion at t, test-unseen-questions" in page


def test_interrupted_run_resumes_without_regrading(tmp_path, settings):
    config = team_config()
    with pytest.raises(KeyboardInterrupt):
        execute_run(tmp_path, team_plan(config, two_passages), InterruptingGrader(after=8), settings,
                    show_progress=False)
    done_before = load_progress(tmp_path / PROGRESS_FILE)
    assert 0 < len(done_before) < 3 * N_ITEMS
    assert not (tmp_path / "results.json").exists()

    resumed = FakeGrader()
    results = execute_run(tmp_path, team_plan(config, two_passages), resumed, settings, resume=True,
                          show_progress=False)
    lines = (tmp_path / PROGRESS_FILE).read_text().splitlines()
    keys = [(r["item_id"], r["repeat"], r["variant"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == 3 * N_ITEMS
    assert results["metrics"]["cost"]["gradings_this_session"] == 3 * N_ITEMS - len(done_before)
    assert results["metrics"]["cost"]["resumed"] is True
    assert all(load_progress(tmp_path / PROGRESS_FILE)[k] == v for k, v in done_before.items())


def test_cache_answers_normal_runs_but_never_repeats(tmp_path, settings):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    config = team_config(grader="llm", repeats=1, order_check=False, cache=True)
    first = FakeGrader(name="llm")
    execute_run(tmp_path / "a", team_plan(config, two_passages), first, settings, cache=cache, show_progress=False)
    assert first.calls == NON_EMPTY

    second = FakeGrader(name="llm")
    results = execute_run(tmp_path / "b", team_plan(config, two_passages), second, settings, cache=cache,
                          show_progress=False)
    assert second.calls == 0
    assert results["metrics"]["cost"]["cache_hit_rate"] == pytest.approx(NON_EMPTY / N_ITEMS)

    repeated = FakeGrader(name="llm")
    config = team_config(grader="llm", repeats=3, order_check=False, cache=True)
    results = execute_run(tmp_path / "c", team_plan(config, two_passages), repeated, settings, cache=cache,
                          show_progress=False)
    assert repeated.calls == 3 * NON_EMPTY
    assert results["metrics"]["cost"]["cache_hit_rate"] == 0.0


def test_cache_key_changes_with_the_question(tmp_path, settings):
    from evals.cache import CachedGrader
    from rag.questions import load_question_bank

    bank = load_question_bank(FIXTURES / "bank.yaml")
    cached = CachedGrader(FakeGrader(name="llm"), ResponseCache(tmp_path / "c.sqlite"), "fp")
    one, two = bank.get("q-one"), bank.get("q-two")
    assert cached.key(one, "a", []) != cached.key(two, "a", [])
    assert cached.key(one, "a", []) != cached.key(one, "b", [])
    assert cached.key(one, "a", []) != CachedGrader(cached.inner, cached.cache, "other").key(one, "a", [])


def test_grader_errors_are_recorded_not_raised(tmp_path, settings):
    class Broken(FakeGrader):
        def grade(self, question, answer, passages):
            if "north" in answer:
                raise RuntimeError("boom")
            return super().grade(question, answer, passages)

    results = execute_run(tmp_path, team_plan(team_config(), two_passages), Broken(), settings, show_progress=False)
    errors = [r for item in results["items"] for r in item["runs"] if r["status"] == "error"]
    assert errors and errors[0]["unscored_reason"] == "RuntimeError: boom"
    assert results["metrics"]["unscored_rate"] > 0


def test_cli_run_and_resume_with_injected_grader(tmp_path, capsys):
    out = tmp_path / "run"
    args = build_parser().parse_args([
        "run", str(FIXTURES / "team-tiny.jsonl"), "--questions", str(FIXTURES / "bank.yaml"), "--passages", "none",
        "--out", str(out), "--no-progress",
    ])
    assert cmd_run(args, make_grader=lambda name, settings: FakeGrader(name)) == 0
    assert "wrote" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["repeats"] == 2 and config["order_check"] is False and config["model"] == "fake-1"

    grader = FakeGrader()
    args = build_parser().parse_args(["run", "--resume", str(out), "--no-progress"])
    assert cmd_run(args, make_grader=lambda name, settings: grader) == 0
    assert grader.calls == 0  # everything was done: not even a warm-up


def test_cli_benchmark_with_injected_grader(tmp_path, capsys):
    out = tmp_path / "bench"
    args = build_parser().parse_args(["benchmark", str(FIXTURES / "bench.csv"), "--out", str(out), "--no-progress"])
    assert cmd_benchmark(args, make_grader=lambda name, settings: FakeGrader(name)) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["repeats"] == 1
    assert results["config"]["granularity"] in ("sentence", "clause", "whole")
    assert results["metrics"]["threshold"]["value"] == 5.0


def without_timings(items: list[dict]) -> list[list[dict]]:
    return [[{k: v for k, v in run.items() if k != "seconds"} for run in item["runs"]] for item in items]


def test_concurrent_run_matches_sequential(tmp_path, settings):
    sequential = execute_run(tmp_path / "seq", team_plan(team_config(), two_passages), FakeGrader(), settings,
                             show_progress=False)
    parallel = execute_run(tmp_path / "par", team_plan(team_config(concurrency=4), two_passages), FakeGrader(),
                           settings, show_progress=False)
    assert without_timings(sequential["items"]) == without_timings(parallel["items"])


def test_a_grader_that_always_fails_stops_the_run(tmp_path, settings):
    from rag.errors import GradingError

    class Down(FakeGrader):
        def grade(self, question, answer, passages):
            raise ConnectionError("server down")

    with pytest.raises(GradingError, match="failed on the first 5 answers: ConnectionError: server down"):
        execute_run(tmp_path, team_plan(team_config(grader="llm"), two_passages), Down(name="llm"), settings,
                    show_progress=False)


def test_llm_cost_from_the_call_log(tmp_path):
    from datetime import UTC, datetime, timedelta

    from evals.runner import LoopStats, cost_metrics, llm_usage
    from rag.grading.llm_log import LLMCall, LLMCallLog
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path, _env_file=None)
    started = datetime.now(UTC) - timedelta(seconds=1)
    log = LLMCallLog.for_settings(settings)
    for _ in range(2):
        log.record(LLMCall(grader="llm", model="gpt-4o-mini", base_url="", messages=[], status="ok",
                           latency_ms=5, prompt_tokens=1000, completion_tokens=200))
    cost = cost_metrics(LoopStats(graded=3, seconds=1.5, cache_hits=1), llm_usage(started, settings), "llm")
    assert cost["answers_per_second"] == 2.0
    assert cost["cache_hit_rate"] == pytest.approx(1 / 3)
    assert cost["tokens_per_answer"] == 1200
    assert cost["cost_per_answer_usd"] >= 0

    empty = cost_metrics(LoopStats(graded=3, seconds=1.0), llm_usage(datetime.now(UTC), settings), "llm")
    assert empty["usage_note"].startswith("n/a")
    assert "tokens_per_answer" not in empty
