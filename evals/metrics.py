"""Metrics for grading evals: numpy-only statistics and the aggregates the reports show.

Every aggregate works on result items (plain dicts, as stored in results.json):
``{"id", "gold", "label", "tier", "kind", "group", "base_id", "topic", "split", "runs": [...]}``
where each run is ``{"repeat", "variant" ("main" | "shuffled"), "status", "score", "band", "hash", ...}``.
Accuracy, ranking and robustness use the first repeat of the main variant (what a user would see);
consistency uses every repeat.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score

TIER_ORDER = {"empty": 0, "wrong": 1, "partial": 2, "good": 3, "excellent": 4}
HONEST_KINDS = ("plain", "paraphrase", "misconception")
SCORE_MAX = 10

DEFINITIONS: dict[str, str] = {
    "mae": "Mean absolute error: mean of |score - gold| over scored items, in points on the 0-10 scale.",
    "pearson": "Pearson correlation between scores and gold scores.",
    "spearman": "Spearman rank correlation (Pearson correlation of ranks; tied values get their average rank).",
    "qwk": "Quadratic weighted kappa between scores and gold, both rounded half-up to integers 0-10 "
    "(11 categories, weight (i-j)^2/100); 1 is perfect agreement, 0 is chance level.",
    "exact": "Exact agreement: share of items whose rounded score equals the rounded gold score.",
    "within_1": "Within-1 agreement: share of items whose rounded score is at most 1 point from the rounded gold.",
    "unscored_rate": "Share of gradings that returned no score (status unscored, or the grader raised an error).",
    "accuracy": "Accuracy: share of answers whose predicted label (correct iff score >= t) equals the gold label.",
    "macro_f1": "Macro-F1: the mean of the F1 scores of the 'correct' and 'incorrect' classes, predicting "
    "'correct' iff score >= t. t maximises macro-F1 on the train split only and is then applied unchanged "
    "to every other split.",
    "always_incorrect_macro_f1": "Macro-F1 of the trivial baseline that labels every answer 'incorrect'.",
    "mean_sd": "Per-item score SD: sample standard deviation of an item's scores over the k repeats, "
    "averaged over items (max_sd is the largest).",
    "score_flip_rate": "Score flip rate: share of items whose score is not the same in all k repeats.",
    "band_flip_rate": "Band flip rate: share of items whose band is not the same in all k repeats.",
    "krippendorff_alpha": "Krippendorff's alpha (interval metric) with items as units and repeats as coders: "
    "1 - observed/expected disagreement; 1 when the repeats never disagree.",
    "identical_share": "Bit-identical repeats: share of items whose whole grade (Grade.stable_view: score, "
    "verdicts, evidence, feedback) is byte-for-byte the same in every repeat.",
    "paraphrase_spread": "Paraphrase-group spread: max - min score within a group of paraphrases of one answer; "
    "within_1_share is the share of groups whose spread is at most 1 point.",
    "order_unchanged_share": "Order invariance: each item is regraded with its reference passages shuffled "
    "(fixed seed); share of items whose score did not change, and the mean |change|.",
    "ranking": "Ranking: over pairs of answers to the same question in different tiers "
    "(excellent > good > partial > wrong > empty) and with different gold scores, the share where the "
    "higher-tier answer scores higher; a tie counts half. Padded and adversarial answers are left out.",
    "attack_success_rate": "Attack success rate: share of adversarial answers scoring at least 1 point above "
    "the same answer without the attack (its base_id). An unscored adversarial answer is not a success.",
    "padding_gain": "Padding gain: mean (and max) of score(padded answer) - score(answer it was padded from).",
    "empty_score": "Empty-answer score: mean (and max) score of answers in the 'empty' tier.",
    "answers_per_second": "Answers per second: gradings completed / wall-clock seconds of the grading loop, "
    "after one warm-up grading that is not timed (offline grader) and excluding set loading.",
    "cache_hit_rate": "Cache hit rate: share of gradings answered from the response cache (never during repeats).",
    "tokens_per_answer": "Tokens and estimated cost per answer: LLM tokens and USD from the LLM call log, "
    "divided by the number of gradings that called the model.",
}


def _clean_pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("both sequences must have the same length")
    return x, y


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def mae(pred: Sequence[float], gold: Sequence[float]) -> float | None:
    x, y = _clean_pairs(pred, gold)
    return float(np.mean(np.abs(x - y))) if len(x) else None


def pearson(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pearson r (scipy); None when either side has no variance or there are fewer than two values."""
    x, y = _clean_pairs(a, b)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(float(stats.pearsonr(x, y).statistic))


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rho (scipy, ties share their mean rank); None as for `pearson`."""
    x, y = _clean_pairs(a, b)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(float(stats.spearmanr(x, y).statistic))


def round_half_up(values: Sequence[float]) -> np.ndarray:
    return np.floor(np.asarray(values, dtype=float) + 0.5).astype(int)


def quadratic_weighted_kappa(
    a: Sequence[float], b: Sequence[float], low: int = 0, high: int = SCORE_MAX
) -> float | None:
    """Cohen's kappa with quadratic weights (sklearn) over the integer categories low..high (inputs rounded
    half-up). Every value in one category on both sides is perfect agreement, 1.0 (sklearn's kappa is undefined)."""
    x = np.clip(round_half_up(a), low, high)
    y = np.clip(round_half_up(b), low, high)
    if len(x) != len(y):
        raise ValueError("both sequences must have the same length")
    if not len(x):
        return None
    if len(set(x.tolist()) | set(y.tolist())) == 1:
        return 1.0
    return float(cohen_kappa_score(x, y, weights="quadratic", labels=list(range(low, high + 1))))


def agreement(pred: Sequence[float], gold: Sequence[float], tolerance: int = 0) -> float | None:
    x, y = round_half_up(pred), round_half_up(gold)
    return float(np.mean(np.abs(x - y) <= tolerance)) if len(x) else None


def krippendorff_alpha_interval(units: Iterable[Sequence[float | None]]) -> float | None:
    """Krippendorff's alpha, interval metric. Each unit lists its values (None = missing).

    Units with fewer than two values are not pairable and are ignored. Returns 1.0 when there is
    no observed disagreement, None when there are fewer than two pairable values.
    """
    pairable = [np.asarray([v for v in unit if v is not None], dtype=float) for unit in units]
    pairable = [u for u in pairable if len(u) >= 2]
    if not pairable:
        return None
    all_values = np.concatenate(pairable)
    n = len(all_values)

    def squared_pair_sum(values: np.ndarray) -> float:
        """Sum over ordered pairs i != j of (v_i - v_j)^2."""
        return 2.0 * (len(values) * float(np.dot(values, values)) - float(values.sum()) ** 2)

    observed = sum(squared_pair_sum(u) / (len(u) - 1) for u in pairable) / n
    if observed == 0:
        return 1.0
    expected = squared_pair_sum(all_values) / (n * (n - 1))
    return None if expected == 0 else 1.0 - observed / expected


def macro_f1(pred: Sequence[bool], gold: Sequence[bool]) -> float:
    """Macro-F1 over the two classes (sklearn); a class absent from both sides scores 0."""
    return float(f1_score(np.asarray(gold, dtype=bool), np.asarray(pred, dtype=bool), average="macro",
                          labels=[True, False], zero_division=0.0))  # fmt: skip


def fit_threshold(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """The t maximising macro-F1 of "correct iff score >= t" on these scores, and that macro-F1.

    Every t in (s[i-1], s[i]] between neighbouring observed scores predicts the same, so the midpoint of the
    best such interval is returned (the lowest interval on ties).
    """
    x = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if not len(x):
        raise ValueError("cannot fit a threshold on no scores")
    observed = sorted(set(x.tolist()))
    candidates = [*observed, observed[-1] + 0.1]
    best_i, best_f1 = 0, -1.0
    for i, t in enumerate(candidates):
        f1 = macro_f1(x >= t, y)
        if f1 > best_f1 + 1e-12:
            best_i, best_f1 = i, f1
    t = candidates[best_i] if best_i == 0 else (candidates[best_i - 1] + candidates[best_i]) / 2
    return round(t, 4), best_f1


def label_metrics(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> dict[str, Any]:
    x = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pred = x >= threshold
    return {
        "n": len(x),
        "share_correct": float(y.mean()) if len(y) else None,
        "accuracy": float(np.mean(pred == y)) if len(y) else None,
        "macro_f1": macro_f1(pred, y),
        "f1_correct": float(f1_score(y, pred, pos_label=True, zero_division=0.0)),
        "f1_incorrect": float(f1_score(y, pred, pos_label=False, zero_division=0.0)),
        "always_incorrect_macro_f1": macro_f1(np.zeros(len(y), dtype=bool), y),
        "confusion": confusion_matrix(y, pred, labels=[False, True]).tolist(),
    }


def score_accuracy(pred: Sequence[float], gold: Sequence[float]) -> dict[str, Any]:
    return {
        "n": len(pred),
        "mae": mae(pred, gold),
        "pearson": pearson(pred, gold),
        "spearman": spearman(pred, gold),
        "qwk": quadratic_weighted_kappa(pred, gold),
        "exact": agreement(pred, gold, 0),
        "within_1": agreement(pred, gold, 1),
    }


# ---------------------------------------------------------------- over result items


def main_runs(item: dict) -> list[dict]:
    return sorted((r for r in item["runs"] if r["variant"] == "main"), key=lambda r: r["repeat"])


def first_score(item: dict) -> float | None:
    runs = main_runs(item)
    return runs[0]["score"] if runs and runs[0]["status"] == "scored" else None


def _unscored_rate(items: Sequence[dict]) -> float | None:
    runs = [r for item in items for r in item["runs"]]
    return sum(r["status"] != "scored" for r in runs) / len(runs) if runs else None


def consistency(items: Sequence[dict]) -> dict[str, Any] | None:
    """Spread of the k repeats of each item; None when the run had a single repeat."""
    per_item = [main_runs(item) for item in items]
    per_item = [runs for runs in per_item if len(runs) >= 2]
    if not per_item:
        return None
    sds, score_flips, band_flips, identical = [], 0, 0, 0
    for runs in per_item:
        scores = [r["score"] for r in runs if r["status"] == "scored"]
        sds.append(float(np.std(scores, ddof=1)) if len(scores) >= 2 else 0.0)
        score_flips += len({r["score"] for r in runs}) > 1
        band_flips += len({r["band"] for r in runs}) > 1
        identical += len({r["hash"] for r in runs}) == 1
    n = len(per_item)
    return {
        "items": n,
        "repeats": max(len(runs) for runs in per_item),
        "mean_sd": float(np.mean(sds)),
        "max_sd": float(np.max(sds)),
        "score_flip_rate": score_flips / n,
        "band_flip_rate": band_flips / n,
        "krippendorff_alpha": krippendorff_alpha_interval(
            [[r["score"] if r["status"] == "scored" else None for r in runs] for runs in per_item]
        ),
        "identical_share": identical / n,
    }


def item_sds(items: Sequence[dict]) -> dict[str, float]:
    result = {}
    for item in items:
        scores = [r["score"] for r in main_runs(item) if r["status"] == "scored"]
        if len(scores) >= 2:
            result[item["id"]] = float(np.std(scores, ddof=1))
    return result


def order_invariance(items: Sequence[dict]) -> dict[str, Any] | None:
    changes = []
    for item in items:
        shuffled = [r for r in item["runs"] if r["variant"] == "shuffled" and r["status"] == "scored"]
        original = first_score(item)
        if shuffled and original is not None:
            changes.append(abs(shuffled[0]["score"] - original))
    if not changes:
        return None
    values = np.asarray(changes)
    return {
        "n": len(changes),
        "unchanged_share": float(np.mean(values < 1e-9)),
        "mean_abs_change": float(values.mean()),
        "max_abs_change": float(values.max()),
    }


def ranking(items: Sequence[dict]) -> dict[str, Any] | None:
    by_question: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for item in items:
        score = first_score(item)
        if item.get("kind") in HONEST_KINDS and item.get("tier") in TIER_ORDER and score is not None:
            by_question[item["question_id"]].append((TIER_ORDER[item["tier"]], item["gold"], score))
    pairs = concordant = ties = 0
    for answers in by_question.values():
        for (tier_a, gold_a, score_a), (tier_b, gold_b, score_b) in combinations(answers, 2):
            if tier_a == tier_b or gold_a == gold_b:
                continue
            pairs += 1
            high, low = (score_a, score_b) if tier_a > tier_b else (score_b, score_a)
            if high > low:
                concordant += 1
            elif high == low:
                ties += 1
    if not pairs:
        return None
    return {"pairs": pairs, "concordant": concordant, "ties": ties, "ranking": (concordant + 0.5 * ties) / pairs}


def paraphrase_spread(items: Sequence[dict]) -> dict[str, Any] | None:
    groups: dict[str, list[float]] = defaultdict(list)
    for item in items:
        score = first_score(item)
        if item.get("group") and score is not None:
            groups[item["group"]].append(score)
    spreads = {g: max(s) - min(s) for g, s in groups.items() if len(s) >= 2}
    if not spreads:
        return None
    values = np.asarray(list(spreads.values()))
    return {
        "groups": len(spreads),
        "mean_spread": float(values.mean()),
        "max_spread": float(values.max()),
        "within_1_share": float(np.mean(values <= 1.0 + 1e-9)),
        "spreads": {g: round(v, 4) for g, v in sorted(spreads.items())},
    }


def robustness(items: Sequence[dict]) -> dict[str, Any]:
    by_id = {item["id"]: item for item in items}
    attacks, paddings, empties = [], [], []
    for item in items:
        base = by_id.get(item.get("base_id") or "")
        base_score = first_score(base) if base else None
        score = first_score(item)
        if item.get("kind") == "adversarial" and base_score is not None:
            attacks.append(score is not None and score >= base_score + 1.0 - 1e-9)
        if item.get("kind") == "padded" and base_score is not None and score is not None:
            paddings.append(score - base_score)
        if item.get("tier") == "empty" and score is not None:
            empties.append(score)
    result: dict[str, Any] = {}
    if attacks:
        result.update(attack_n=len(attacks), attack_success_rate=float(np.mean(attacks)))
    if paddings:
        result.update(padding_n=len(paddings), padding_gain_mean=float(np.mean(paddings)),
                      padding_gain_max=float(np.max(paddings)))
    if empties:
        result.update(empty_n=len(empties), empty_score_mean=float(np.mean(empties)),
                      empty_score_max=float(np.max(empties)))
    return result


def band_confusion(items: Sequence[dict], band_of: Callable[[float], str], labels: Sequence[str]) -> dict[str, Any]:
    """Rows: the gold score's band; columns: the graded band (`band_of` maps a score to a band id)."""
    pairs = []
    for item in items:
        score = first_score(item)
        if score is not None and item.get("gold") is not None:
            pairs.append((band_of(item["gold"]), band_of(score)))
    labels = list(labels)
    index = {b: i for i, b in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for gold_band, pred_band in pairs:
        matrix[index[gold_band]][index[pred_band]] += 1
    return {"labels": labels, "matrix": matrix}


def per_group_accuracy(items: Sequence[dict], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for item in items:
        score = first_score(item)
        if score is not None and item.get("gold") is not None:
            pred, gold = groups[str(item.get(key) or "-")]
            pred.append(score)
            gold.append(item["gold"])
    return {
        name: {"n": len(pred), "mae": mae(pred, gold), "within_1": agreement(pred, gold, 1)}
        for name, (pred, gold) in sorted(groups.items())
    }


def first_flagged(item: dict) -> bool | None:
    """The first main grading found a misconception or contradicted a key point (None when unscored)."""
    runs = main_runs(item)
    if not runs or runs[0]["status"] != "scored":
        return None
    run = runs[0]
    return bool(run.get("misconceptions")) or "contradicted" in (run.get("verdicts") or {}).values()


def parts(items: Sequence[dict]) -> dict[str, Any] | None:
    """Per part of the frozen question split (evals/question_split.yaml): QWK, MAE, misconception recall
    (misconception answers flagged) and false-flag rate (excellent/good plain or paraphrase answers flagged)."""
    if not any(item.get("part") for item in items):
        return None
    result: dict[str, Any] = {}
    for part in sorted({item["part"] for item in items if item.get("part")}):
        mine = [item for item in items if item.get("part") == part]
        scored = [(first_score(item), item["gold"]) for item in mine]
        scored = [(s, g) for s, g in scored if s is not None]
        wrong = [first_flagged(i) for i in mine if i.get("kind") == "misconception"]
        good = [
            first_flagged(i)
            for i in mine
            if i.get("tier") in ("excellent", "good") and i.get("kind") in ("plain", "paraphrase")
        ]
        wrong, good = [f for f in wrong if f is not None], [f for f in good if f is not None]
        accuracy = score_accuracy([s for s, _ in scored], [g for _, g in scored]) if scored else {}
        result[part] = {
            "n": len(mine),
            "qwk": accuracy.get("qwk"),
            "mae": accuracy.get("mae"),
            "misconception_n": len(wrong),
            "misconception_recall": float(np.mean(wrong)) if wrong else None,
            "good_n": len(good),
            "false_flag_rate": float(np.mean(good)) if good else None,
        }
    return result


def judge_agreement(items: Sequence[dict]) -> dict[str, Any] | None:
    """LLM grades: the share of covered/partly verdicts whose quotes the judge read as stating the point."""
    opinions = [r["second_opinion"] for item in items for r in main_runs(item) if r.get("second_opinion")]
    checked = sum(o.get("checked", 0) for o in opinions)
    if not checked:
        return None
    disputed = sum(o.get("disputed", 0) for o in opinions)
    return {"checked": checked, "disputed": disputed, "agreement_rate": 1.0 - disputed / checked}


def team_metrics(items: Sequence[dict], band_of: Callable[[float], str], band_labels: Sequence[str]) -> dict[str, Any]:
    """Every metric for a run over team-written eval sets (gold scores 0-10)."""
    scored = [(first_score(item), item["gold"]) for item in items]
    scored = [(s, g) for s, g in scored if s is not None]
    metrics: dict[str, Any] = {
        "n_items": len(items),
        "n_gradings": sum(len(item["runs"]) for item in items),
        "unscored_rate": _unscored_rate(items),
        "accuracy": score_accuracy([s for s, _ in scored], [g for _, g in scored]),
        "by_kind": per_group_accuracy(items, "kind"),
        "per_topic": per_group_accuracy(items, "topic"),
        "bands": band_confusion(items, band_of, band_labels),
    }
    optional = {
        "ranking": ranking(items),
        "consistency": consistency(items),
        "paraphrase": paraphrase_spread(items),
        "order": order_invariance(items),
        "robustness": robustness(items) or None,
        "parts": parts(items),
        "judge_agreement": judge_agreement(items),
    }
    metrics.update({k: v for k, v in optional.items() if v is not None})
    return metrics


def benchmark_metrics(
    items: Sequence[dict], threshold: float | None = None, fit_split: str = "train"
) -> dict[str, Any]:
    """Per-split metrics for an external benchmark. Labelled items: t is `threshold` when given, else fitted on
    `fit_split` (or, when the file has no such split, on every row, which the report flags as in-sample)."""
    metrics: dict[str, Any] = {
        "n_items": len(items),
        "n_gradings": sum(len(item["runs"]) for item in items),
        "unscored_rate": _unscored_rate(items),
    }
    labelled = [(item, first_score(item)) for item in items if item.get("label") is not None]
    labelled = [(item, s) for item, s in labelled if s is not None]
    splits = sorted({str(item.get("split") or "all") for item in items}, key=lambda s: (s != fit_split, s))
    per_split: dict[str, dict[str, Any]] = {split: {} for split in splits}
    if labelled:
        if threshold is not None:
            info = {"value": threshold, "fitted_on": "given on the command line"}
        else:
            train = [(item, s) for item, s in labelled if item.get("split") == fit_split]
            source = train or labelled
            t, f1 = fit_threshold([s for _, s in source], [item["label"] for item, _ in source])
            fitted_on = f"{fit_split} split ({len(train)} answers)" if train else (
                f"every row ({len(labelled)} answers, in-sample: the file has no '{fit_split}' split)")
            info = {"value": t, "fitted_on": fitted_on, "fit_macro_f1": f1}
        metrics["threshold"] = info
        for split in splits:
            rows = [(item, s) for item, s in labelled if str(item.get("split") or "all") == split]
            if rows:
                per_split[split].update(
                    label_metrics([s for _, s in rows], [item["label"] for item, _ in rows], info["value"])
                )
    for split in splits:
        rows = [(first_score(item), item["gold"]) for item in items
                if str(item.get("split") or "all") == split and item.get("gold") is not None]
        rows = [(s, g) for s, g in rows if s is not None]
        if rows:
            per_split[split]["scores"] = score_accuracy([s for s, _ in rows], [g for _, g in rows])
    metrics["splits"] = per_split
    optional = {"consistency": consistency(items), "order": order_invariance(items)}
    metrics.update({k: v for k, v in optional.items() if v is not None})
    return metrics
