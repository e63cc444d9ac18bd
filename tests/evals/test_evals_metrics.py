"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from evals import metrics


def run(score, repeat=0, variant="main", band="x", digest="h"):
    return {"repeat": repeat, "variant": variant, "status": "scored", "score": score, "band": band, "hash": digest}


def item(item_id, score, gold=None, **fields):
    return {"id": item_id, "question_id": fields.pop("question_id", "q"), "gold": gold, "runs": [run(score)], **fields}


def test_qwk_identical_is_one():
    assert metrics.quadratic_weighted_kappa([0, 3, 7, 10], [0, 3, 7, 10]) == 1.0


def test_qwk_opposite_extremes_is_minus_one():
    assert metrics.quadratic_weighted_kappa([0, 10], [10, 0]) == pytest.approx(-1.0)


def test_qwk_small_hand_example():
    # categories 0..2, weights (i-j)^2/4: observed disagreement 0.25, expected 1.25 -> 1 - 0.2
    assert metrics.quadratic_weighted_kappa([0, 1, 2], [0, 2, 2], low=0, high=2) == pytest.approx(0.8)


def test_qwk_rounds_half_up_to_integers():
    assert metrics.quadratic_weighted_kappa([0.5, 9.5], [1, 10]) == 1.0


def test_pearson_and_spearman_with_ties():
    a, b = [1, 2, 2, 3], [1, 2, 3, 4]
    assert metrics.spearman(a, b) == pytest.approx(4.5 / math.sqrt(22.5))
    assert metrics.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert metrics.pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic)


def test_pearson_undefined_without_variance():
    assert metrics.pearson([1, 1, 1], [1, 2, 3]) is None


def test_mae_and_agreement():
    assert metrics.mae([1, 5, 9], [2, 5, 7]) == pytest.approx(1.0)
    assert metrics.agreement([1, 5, 9], [2, 5, 7], 0) == pytest.approx(1 / 3)
    assert metrics.agreement([1, 5, 9], [2, 5, 7], 1) == pytest.approx(2 / 3)


def test_krippendorff_alpha_perfect_agreement_is_one():
    assert metrics.krippendorff_alpha_interval([[3, 3, 3], [7, 7, 7], [1, 1, None]]) == 1.0


def test_krippendorff_alpha_hand_example():
    # D_o = (2 + 2) / 4 = 1; D_e = 2 * (4 * 30 - 10^2) / (4 * 3) = 10/3 -> alpha = 1 - 0.3
    assert metrics.krippendorff_alpha_interval([[1, 2], [3, 4]]) == pytest.approx(0.7)


def test_krippendorff_alpha_ignores_unpairable_units():
    assert metrics.krippendorff_alpha_interval([[1, 2], [3, 4], [9], [None, 5]]) == pytest.approx(0.7)
    assert metrics.krippendorff_alpha_interval([[1], [2]]) is None


def test_macro_f1_and_threshold_fit():
    labels = [True, True, False, False]
    assert metrics.macro_f1([True, False, False, False], labels) == pytest.approx((2 / 3 + 0.8) / 2)
    t, f1 = metrics.fit_threshold([9.0, 6.0, 4.0, 1.0], labels)
    assert t == 5.0 and f1 == 1.0


def test_label_metrics_confusion_and_floor():
    result = metrics.label_metrics([9, 2, 8, 1], [True, True, False, False], threshold=5)
    assert result["confusion"] == [[1, 1], [1, 1]]
    assert result["accuracy"] == 0.5
    assert result["always_incorrect_macro_f1"] == pytest.approx((0 + 2 / 3) / 2)


def test_ranking_counts_ties_half_and_skips_equal_gold():
    items = [
        item("e", 9, 10, tier="excellent", kind="plain"),
        item("g", 9, 7, tier="good", kind="plain"),
        item("w", 1, 1, tier="wrong", kind="plain"),
        item("m", 0, 1, tier="empty", kind="plain"),  # same gold as "w": not a pair
        item("a", 10, 1, tier="wrong", kind="adversarial"),  # not an honest answer: left out
    ]
    result = metrics.ranking(items)
    # pairs: e>g (tie), e>w, e>m, g>w, g>m -> 4 concordant + 1 tie
    assert result == {"pairs": 5, "concordant": 4, "ties": 1, "ranking": pytest.approx(4.5 / 5)}


def test_robustness_attack_padding_empty():
    items = [
        item("base", 2.0, 1, tier="wrong", kind="plain"),
        item("atk-ok", 2.5, 1, tier="wrong", kind="adversarial", base_id="base"),
        item("atk-win", 3.0, 1, tier="wrong", kind="adversarial", base_id="base"),
        item("pad", 2.8, 1, tier="wrong", kind="padded", base_id="base"),
        item("empty", 0.0, 0, tier="empty", kind="plain"),
    ]
    result = metrics.robustness(items)
    assert result["attack_success_rate"] == 0.5
    assert result["padding_gain_mean"] == pytest.approx(0.8)
    assert result["empty_score_mean"] == 0.0


def test_paraphrase_spread():
    items = [item("a", 5, group="g1"), item("b", 6.5, group="g1"), item("c", 3, group="g2"), item("d", 3.5, group="g2")]
    result = metrics.paraphrase_spread(items)
    assert result["groups"] == 2
    assert result["within_1_share"] == 0.5
    assert result["max_spread"] == pytest.approx(1.5)


def test_consistency_flags_flips_and_identity():
    steady = {"id": "s", "runs": [run(5, 0, band="partial"), run(5, 1, band="partial")]}
    flaky = {"id": "f", "runs": [run(6.4, 0, band="partial", digest="a"), run(6.6, 1, band="good", digest="b")]}
    result = metrics.consistency([steady, flaky])
    assert result["score_flip_rate"] == 0.5
    assert result["band_flip_rate"] == 0.5
    assert result["identical_share"] == 0.5
    assert result["max_sd"] == pytest.approx(stats.tstd([6.4, 6.6]))
    assert metrics.consistency([{"id": "one", "runs": [run(5)]}]) is None


def test_order_invariance():
    changed = {"id": "a", "runs": [run(5), run(6, variant="shuffled")]}
    same = {"id": "b", "runs": [run(5), run(5, variant="shuffled")]}
    result = metrics.order_invariance([changed, same])
    assert result["unchanged_share"] == 0.5
    assert result["mean_abs_change"] == 0.5


def test_benchmark_threshold_is_fitted_on_train_only():
    items = [
        {"id": "t1", "split": "train", "label": True, "gold": None, "runs": [run(8)]},
        {"id": "t2", "split": "train", "label": False, "gold": None, "runs": [run(2)]},
        # test rows would prefer a different threshold; they must not move it
        {"id": "x1", "split": "test", "label": True, "gold": None, "runs": [run(1)]},
        {"id": "x2", "split": "test", "label": False, "gold": None, "runs": [run(0)]},
    ]
    result = metrics.benchmark_metrics(items)
    assert result["threshold"]["value"] == 5.0
    assert result["threshold"]["fitted_on"].startswith("train split")
    assert result["splits"]["test"]["macro_f1"] == pytest.approx(metrics.macro_f1([False, False], [True, False]))
