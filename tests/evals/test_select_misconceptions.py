"""evals.select_misconceptions: the choice rule on given figures, and a small run that writes nothing."""

import json

import pytest

from evals import select_misconceptions
from evals.judge_data import DATASETS_DIR
from rag.grading.match_params import PARAMS_PATH, default_params

BASE = {
    "team_qwk": 0.90,
    "team_misconception_recall": 0.50,
    "team_false_flags": 0.0,
    "team_paraphrase_within_1": 0.90,
    "team_paraphrase_groups": 20.0,
    "generated_false_flags": 0.01,
}


def figures(**changes: float) -> dict[str, float]:
    return {**BASE, **changes}


def test_the_highest_recall_within_every_limit_wins_and_ties_go_to_the_strictest():
    shipped = (0.75, 0.03, False)
    results = {
        shipped: figures(),
        (0.6, 0.0, True): figures(team_misconception_recall=0.8, team_false_flags=0.013),
        (0.65, 0.0, True): figures(team_misconception_recall=0.7, generated_false_flags=0.02),
        (0.7, 0.0, False): figures(team_misconception_recall=0.6, team_qwk=0.89),
        (0.7, 0.03, False): figures(team_misconception_recall=0.6),
        (0.7, -0.03, True): figures(team_misconception_recall=0.6, team_paraphrase_within_1=0.80),
    }
    assert select_misconceptions.choose(results, shipped) == (0.7, 0.03, False)


def test_nothing_better_within_the_limits_keeps_the_shipped_setting():
    shipped = (0.75, 0.03, False)
    results = {shipped: figures(), (0.6, 0.0, True): figures(team_misconception_recall=0.9, team_false_flags=0.05)}
    assert select_misconceptions.choose(results, shipped) == shipped


def test_a_variant_changes_only_the_misconception_settings():
    base = default_params()
    changed = select_misconceptions.variant(base, (0.6, -0.03, True))
    assert changed.thresholds.misconception == 0.6 and changed.thresholds.misconception_margin == -0.03
    assert changed.misconception_paraphrases is True
    assert changed.thresholds.covered == base.thresholds.covered and changed.weights == base.weights
    assert select_misconceptions.shipped(base) == (
        base.thresholds.misconception, base.thresholds.misconception_margin, base.misconception_paraphrases
    )


@pytest.mark.skipif(not DATASETS_DIR.is_dir(), reason=f"{DATASETS_DIR} is not available")
def test_a_small_selection_prints_a_grid_setting_and_leaves_the_params_alone(capsys, monkeypatch):
    monkeypatch.setattr(select_misconceptions, "GRID", {
        "misconception": (0.6, 0.75), "misconception_margin": (0.03,), "paraphrases": (False,),
    })
    before = PARAMS_PATH.read_bytes()
    assert select_misconceptions.main(["--limit", "3"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert PARAMS_PATH.read_bytes() == before
    assert chosen["misconception"] in (0.6, 0.75) and chosen["answers"] > 0
    assert {"team_misconception_recall", "generated_false_flags"} <= set(chosen["chosen"])
