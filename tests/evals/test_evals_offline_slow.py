"""The real offline grader through the evals runner, on a slice of the team sets and of SciEntsBank."""

from __future__ import annotations

import json

import pytest

from evals.runner import benchmark_plan, execute_run, team_plan
from evals.sets import SETS_DIR, load_sets
from rag.settings import PROJECT_ROOT, get_settings

from .conftest import bench_config, team_config

OFFLINE = PROJECT_ROOT / "rag" / "grading" / "offline.py"
SCIENTSBANK = PROJECT_ROOT.parent / "shared" / "datasets" / "scientsbank" / "scientsbank_2way.csv"
SLICE_QUESTIONS = 2

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OFFLINE.is_file(), reason="rag/grading/offline.py (the offline grader) does not exist yet"),
]


@pytest.fixture(scope="module")
def offline_grader():
    from rag.grading.service import make_grader

    return make_grader("offline", get_settings())


def team_slice(tmp_path, question_bank) -> tuple[str, int]:
    """Every answer to the first few questions of the team sets (whole questions, so base_id links hold)."""
    if not sorted(SETS_DIR.glob("team-*.jsonl")):
        pytest.skip("no team eval sets in evals/sets yet")
    records = [r.record for s in load_sets([], [q.id for q in question_bank.questions]) for r in s.records]
    chosen = list(dict.fromkeys(r.question_id for r in records))[:SLICE_QUESTIONS]
    path = tmp_path / "team-slice.jsonl"
    kept = [r for r in records if r.question_id in chosen]
    path.write_text("".join(r.model_dump_json() + "\n" for r in kept), encoding="utf-8")
    return str(path), len(kept)


def test_offline_grader_on_a_team_slice(tmp_path, question_bank, guide_store, guide_settings, offline_grader):
    from rag.grading.service import retrieve_passages

    sets_path, n = team_slice(tmp_path, question_bank)
    config = team_config(sets=[sets_path], questions_file=str(PROJECT_ROOT / "corpus" / "questions.yaml"),
                         model=offline_grader.model)
    plan = team_plan(config, lambda question: retrieve_passages(question, guide_store, guide_settings.retrieval_k))
    results = execute_run(tmp_path / "run", plan, offline_grader, guide_settings, show_progress=False)
    m = results["metrics"]
    assert m["n_items"] == n
    assert m["unscored_rate"] == 0
    assert m["consistency"]["identical_share"] == 1.0, "the offline grader must repeat bit for bit"
    assert m["order"]["n"] == n
    assert m["accuracy"]["qwk"] is not None and m["cost"]["answers_per_second"] > 0
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert {g["gate"] for g in saved["gates"]} >= {"qwk_min", "repeat_identical"}
    assert (tmp_path / "run" / "report.html").stat().st_size > 0


@pytest.mark.skipif(not SCIENTSBANK.is_file(), reason=f"{SCIENTSBANK} is not available")
def test_offline_grader_on_a_scientsbank_slice(tmp_path, offline_grader):
    config = bench_config(SCIENTSBANK, limit=40, splits=["train", "test-unseen-questions"])
    results = execute_run(tmp_path, benchmark_plan(config), offline_grader, get_settings(), show_progress=False)
    m = results["metrics"]
    assert m["n_items"] == 80 and m["unscored_rate"] == 0
    assert m["threshold"]["fitted_on"] == "train split (40 answers)"
    assert 0 <= m["splits"]["test-unseen-questions"]["macro_f1"] <= 1


@pytest.mark.skipif(not SCIENTSBANK.is_file(), reason=f"{SCIENTSBANK} is not available")
def test_worker_processes_grade_exactly_as_one_process(tmp_path, offline_grader):
    from evals.runner import uses_worker_processes

    assert uses_worker_processes(offline_grader, 2)
    config = bench_config(SCIENTSBANK, limit=15, splits=["test-unseen-answers"])
    alone = execute_run(tmp_path / "one", benchmark_plan(config), offline_grader, get_settings(), show_progress=False)
    config = config.model_copy(update={"concurrency": 2})
    shared = execute_run(tmp_path / "two", benchmark_plan(config), offline_grader, get_settings(), show_progress=False)
    records = [
        {k: v for k, v in run.items() if k != "seconds"} for run_set in (alone, shared)
        for item in run_set["items"] for run in item["runs"]
    ]
    assert len(records) == 30 and records[:15] == records[15:]
    assert shared["metrics"]["cost"]["gradings_this_session"] == 15


def test_a_worker_that_cannot_start_stops_the_run_with_a_clear_error(tmp_path, question_bank):
    from evals.runner import Task, start_worker_processes
    from rag.errors import GradingError
    from rag.grading.offline import OfflineGrader

    broken = get_settings().model_copy(update={"prompts_dir": tmp_path / "no-prompts"})
    warm = Task("x", 0, "warm-up", (question_bank.questions[0],), "Security groups are stateful.", ())
    with pytest.raises(GradingError, match="failed to start"):
        start_worker_processes(OfflineGrader(), broken, 2, warm)
