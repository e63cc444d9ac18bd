"""Fit the offline grader's matching model on the SciEntsBank train split, with grouped cross-validation.

    python -m evals.fit_offline [--csv PATH] [--out rag/grading/offline_params.json]

Only the train split is read. The model: for each key point, the probability of being stated is the
best unit's logistic score; the answer's probability is the mean over its key points (what the
score does with verdicts). Weights are fitted on that answer-level likelihood; the verdict
thresholds and the score threshold are then chosen to maximise macro-F1 of "correct iff score >= t"
on train. Cross-validation is grouped by question, so it mimics unseen questions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.config import configured_prompt_files
from rag.grading.derive import questions_from_reference
from rag.grading.lexicon import LEXICON_FILE
from rag.grading.match_params import CANDIDATE_FEATURES, PARAMS_PATH
from rag.grading.matching import Matcher
from rag.grading.result import Verdict
from rag.grading.rubric import load_rubric
from rag.settings import PROJECT_ROOT

DEFAULT_CSV = PROJECT_ROOT.parent / "shared" / "datasets" / "scientsbank" / "scientsbank_2way.csv"
TRAIN_SPLIT = "train"
FEATURE_SOURCES = tuple(
    PROJECT_ROOT / "rag" / "grading" / name
    for name in (
        "stemming.py",
        "lexicon.py",
        "text.py",
        "clauses.py",
        "match_params.py",
        "token_encoder.py",
        "views.py",
        "matching.py",
        "derive.py",
    )
)
GRANULARITY = "sentence"
L2 = 1e-3
FOLDS = 5
SEED = 13

FEATURES = ("cos_claim_unit", "token_recall_distinct", "stem_recall_novel", "token_recall_distinct_sq")
# Hand-set rules, not fitted: SciEntsBank has no misconceptions, contradictions or off-topic labels.
# A contradiction needs the match a covered point needs. A misconception needs a clearly better match
# (a false one costs a correct answer 2.5 points), must match the claim at least as well as its correction,
# and must sit MISCONCEPTION_MARGIN closer (cosine) to the claim than to every key point (see
# rag.grading.misconceptions.find_misconceptions). Set by hand on the question bank's 80 model answers
# (none may state a misconception) and 20 hand-written paraphrases of its misconceptions.
MISCONCEPTION_THRESHOLD = 0.75
MISCONCEPTION_MARGIN = 0.03
OFF_TOPIC_THRESHOLD = 0.15


@dataclass
class Item:
    """One student answer: its label and, per derived key point, its units' features and polarity."""

    question_id: str
    label: int
    key_points: list[np.ndarray]
    """Per key point: one row of CANDIDATE_FEATURES per answer unit."""
    stating: list[np.ndarray]
    """Per key point: which units may earn it (`Matcher.stating_mask`: polarity kept)."""


def load_rows(path: Path, split: str) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["split"] == split]


def featurize(rows: Sequence[dict[str, str]], matcher: Matcher, granularity: str = GRANULARITY) -> list[Item]:
    """Candidate-feature rows of the units that keep each key point's polarity, for every answer."""
    items = []
    views = matcher.view_answers([row["student_answer"] for row in rows])
    for row, answer in zip(rows, views, strict=True):
        # Fitting uses the first alternative reference; grading keeps the best (SciEntsBank has no alternatives).
        question = questions_from_reference(row["question_id"], row["question"], row["reference_answer"], granularity)[
            0
        ]
        question_view, claims = matcher.view_claims(question.question, [kp.text for kp in question.key_points])
        features = [matcher.unit_features(question_view, claim, answer) for claim in claims]
        stating = [matcher.stating_mask(question_view, claim, answer) for claim in claims]
        items.append(Item(row["question_id"], int(row["label"] == "correct"), features, stating))
    return items


# ---------------------------------------------------------------------------------------------- model


@dataclass
class Packed:
    """Items flattened for vectorised fitting: unit rows, their key point, and each key point's answer."""

    units: np.ndarray
    unit_point: np.ndarray
    point_item: np.ndarray
    point_has_units: np.ndarray
    labels: np.ndarray
    points_per_item: np.ndarray


def pack(items: Sequence[Item], columns: Sequence[int]) -> Packed:
    """Flatten the items, keeping the feature `columns` and only the units that may earn each key point."""
    units, unit_point, point_item, has_units, counts = [], [], [], [], []
    point = 0
    for item_index, item in enumerate(items):
        counts.append(len(item.key_points))
        for rows, mask in zip(item.key_points, item.stating, strict=True):
            point_item.append(item_index)
            stating = [row[list(columns)] for row, keep in zip(rows, mask, strict=True) if keep]
            has_units.append(bool(stating))
            units.extend(stating)
            unit_point.extend([point] * len(stating))
            point += 1
    return Packed(
        units=np.asarray(units, dtype=np.float64).reshape(-1, len(columns)),
        unit_point=np.asarray(unit_point, dtype=np.int64),
        point_item=np.asarray(point_item, dtype=np.int64),
        point_has_units=np.asarray(has_units, dtype=bool),
        labels=np.asarray([item.label for item in items], dtype=np.float64),
        points_per_item=np.asarray(counts, dtype=np.float64),
    )


def point_probabilities(packed: Packed, weights: np.ndarray, bias: float) -> tuple[np.ndarray, np.ndarray]:
    """Per key point: the best unit's probability and that unit's index (-1 when the point has no unit)."""
    n_points = len(packed.point_item)
    scores = 1.0 / (1.0 + np.exp(-(packed.units @ weights + bias)))
    best = np.zeros(n_points)
    arg = np.full(n_points, -1, dtype=np.int64)
    order = np.lexsort((-scores, packed.unit_point))
    first = np.ones(len(order), dtype=bool)
    first[1:] = packed.unit_point[order][1:] != packed.unit_point[order][:-1]
    chosen = order[first]
    best[packed.unit_point[chosen]] = scores[chosen]
    arg[packed.unit_point[chosen]] = chosen
    return best, arg


def fit_weights(packed: Packed, l2: float = L2, steps: int = 3000, rate: float = 0.05) -> tuple[np.ndarray, float]:
    """Adam on the answer-level log-loss of mean(max-unit probability); deterministic (fixed start, full batch)."""
    dims = packed.units.shape[1]
    theta = np.zeros(dims + 1)
    moment, velocity = np.zeros_like(theta), np.zeros_like(theta)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    labels = packed.labels
    for step in range(1, steps + 1):
        weights, bias = theta[:dims], theta[dims]
        best, arg = point_probabilities(packed, weights, bias)
        answer = np.bincount(packed.point_item, weights=best, minlength=len(labels)) / packed.points_per_item
        answer = np.clip(answer, 1e-6, 1 - 1e-6)
        d_answer = (answer - labels) / (answer * (1 - answer)) / len(labels)
        valid = arg >= 0
        d_point = d_answer[packed.point_item[valid]] / packed.points_per_item[packed.point_item[valid]]
        p = best[valid]
        d_z = d_point * p * (1 - p)
        rows = packed.units[arg[valid]]
        grad = np.concatenate([rows.T @ d_z + 2 * l2 * weights, [d_z.sum()]])
        moment = beta1 * moment + (1 - beta1) * grad
        velocity = beta2 * velocity + (1 - beta2) * grad**2
        theta -= rate * (moment / (1 - beta1**step)) / (np.sqrt(velocity / (1 - beta2**step)) + eps)
    return theta[:dims].copy(), float(theta[dims])


# ---------------------------------------------------------------------------------------------- decisions


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    scores = []
    for positive in (1, 0):
        tp = np.sum((predicted == positive) & (labels == positive))
        fp = np.sum((predicted == positive) & (labels != positive))
        fn = np.sum((predicted != positive) & (labels == positive))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def verdict_scores(best: np.ndarray, packed: Packed, covered: float, partly: float) -> np.ndarray:
    """The 0-10 coverage score of each answer from its key points' verdicts (equal weights, no penalties).

    Each verdict earns the rubric's own credit for it, not the grader's graded credit: the thresholds
    fitted here say what 'covered' and 'partly' mean, and graded credit only smooths the score inside
    each verdict's range (rag.grading.offline.graded_credit).
    """
    rubric = load_rubric()
    covered_credit, partly_credit = rubric.credit(Verdict.covered.value), rubric.credit(Verdict.partly.value)
    credit = np.where(best >= covered, covered_credit, np.where(best >= partly, partly_credit, 0.0))
    total = np.bincount(packed.point_item, weights=credit, minlength=len(packed.labels))
    return np.round(10.0 * total / packed.points_per_item, 1)


COVERED_GRID = tuple(np.round(np.arange(0.30, 0.81, 0.025), 3))
# Covered sits a fixed 0.2 above partly: most SciEntsBank references are one sentence, and with one key
# point only the lower threshold decides "correct", so the data cannot place the upper one.
PARTLY_GAP_GRID = (0.20,)
SCORE_GRID = tuple(np.round(np.arange(0.5, 10.01, 0.5), 1))


def choose_thresholds(packed: Packed, weights: np.ndarray, bias: float) -> tuple[float, float, float, float]:
    """(covered, partly, score threshold, macro-F1): the grid point with the best macro-F1 on these items.

    Ties go to the lowest covered threshold, then the smallest gap, then the lowest score threshold.
    """
    best_p, _ = point_probabilities(packed, weights, bias)
    labels = packed.labels.astype(bool)
    thresholds = np.asarray(SCORE_GRID)
    best = (-1.0, 0.0, 0.0, 0.0)
    for covered in COVERED_GRID:
        for gap in PARTLY_GAP_GRID:
            partly = round(float(covered) - gap, 3)
            if partly <= 0:
                continue
            scores = verdict_scores(best_p, packed, float(covered), partly)
            predicted = scores[None, :] >= thresholds[:, None]
            tp = (predicted & labels).sum(1)
            fp = (predicted & ~labels).sum(1)
            fn = (~predicted & labels).sum(1)
            tn = (~predicted & ~labels).sum(1)
            f1 = (2 * tp / np.maximum(2 * tp + fp + fn, 1) + 2 * tn / np.maximum(2 * tn + fn + fp, 1)) / 2
            index = int(np.argmax(f1))
            if f1[index] > best[0] + 1e-9:
                best = (float(f1[index]), float(covered), partly, float(thresholds[index]))
    return best[1], best[2], best[3], best[0]


def grouped_folds(items: Sequence[Item], folds: int = FOLDS, seed: int = SEED) -> list[np.ndarray]:
    questions = sorted({item.question_id for item in items})
    order = np.random.default_rng(seed).permutation(len(questions))
    fold_of = {questions[i]: rank % folds for rank, i in enumerate(order)}
    return [np.asarray([i for i, item in enumerate(items) if fold_of[item.question_id] == f]) for f in range(folds)]


def cross_validate(
    items: Sequence[Item],
    columns: Sequence[int],
    folds: int = FOLDS,
    l2: float = L2,
) -> dict[str, float]:
    """Grouped-by-question CV: weights and thresholds fitted on the other folds, F1 on the held-out one."""
    fold_indices = grouped_folds(items, folds)
    f1s, pooled_labels, pooled_predictions = [], [], []
    for held_out in fold_indices:
        held = set(held_out.tolist())
        train = pack([items[i] for i in range(len(items)) if i not in held], columns)
        test = pack([items[i] for i in held_out], columns)
        weights, bias = fit_weights(train, l2)
        covered, partly, t, _ = choose_thresholds(train, weights, bias)
        best, _ = point_probabilities(test, weights, bias)
        predicted = (verdict_scores(best, test, covered, partly) >= t).astype(int)
        f1s.append(macro_f1(test.labels, predicted))
        pooled_labels.append(test.labels)
        pooled_predictions.append(predicted)
    labels, predictions = np.concatenate(pooled_labels), np.concatenate(pooled_predictions)
    return {
        "macro_f1_mean": round(float(np.mean(f1s)), 4),
        "macro_f1_std": round(float(np.std(f1s)), 4),
        "macro_f1_pooled": round(macro_f1(labels, predictions), 4),
        "accuracy_pooled": round(float(np.mean(labels == predictions)), 4),
        "folds": folds,
    }


def write_params(
    path: Path,
    features: Sequence[str],
    weights: np.ndarray,
    bias: float,
    decision: tuple[float, float, float],
    report: dict,
) -> dict:
    covered, partly, t = decision
    params = {
        "version": 1,
        "features": list(features),
        "weights": [round(float(w), 6) for w in weights],
        "bias": round(float(bias), 6),
        "thresholds": {
            "covered": covered,
            "partly": partly,
            "contradicted": covered,
            "misconception": max(covered, MISCONCEPTION_THRESHOLD),
            "misconception_margin": MISCONCEPTION_MARGIN,
            "off_topic": OFF_TOPIC_THRESHOLD,
        },
        "score_threshold": t,
        "fitted_on": report,
    }
    path.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    return params


def features_fingerprint(csv_path: Path, granularity: str) -> str:
    """Changes whenever the data or the code and word lists that compute the features change."""
    digest = hashlib.sha256(f"{csv_path.resolve()}|{granularity}".encode())
    for path in (*FEATURE_SOURCES, configured_prompt_files().directory / LEXICON_FILE, csv_path):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_items(args: argparse.Namespace) -> list[Item]:
    """Featurized train answers, from `--cache` when it matches the current code and data (a speed-up only)."""
    fingerprint = features_fingerprint(args.csv, args.granularity)
    if args.cache and args.cache.is_file():
        with args.cache.open("rb") as handle:
            cached = pickle.load(handle)
        if cached.get("fingerprint") == fingerprint:
            print(f"features loaded from {args.cache}", flush=True)
            return cached["items"]
    started = time.perf_counter()
    rows = load_rows(args.csv, TRAIN_SPLIT)
    print(f"train split: {len(rows)} answers, {len({r['question_id'] for r in rows})} questions", flush=True)
    items = featurize(rows, Matcher(params=None, lexicon=configured_prompt_files().lexicon()), args.granularity)
    print(f"features computed in {time.perf_counter() - started:.1f} s", flush=True)
    if args.cache:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        with args.cache.open("wb") as handle:
            pickle.dump({"fingerprint": fingerprint, "items": items}, handle)
    return items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.fit_offline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="SciEntsBank 2-way CSV (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=PARAMS_PATH, help="params file to write (default: %(default)s)")
    parser.add_argument(
        "--features",
        default=",".join(FEATURES),
        help="comma-separated features of the model (default: %(default)s; "
        f"choose from {', '.join(CANDIDATE_FEATURES)})",
    )
    parser.add_argument("--granularity", choices=("sentence", "clause", "whole"), default=GRANULARITY)
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the computed features, reused if present")
    parser.add_argument("--no-write", action="store_true", help="only print the cross-validation figures")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        parser.error(f"{args.csv} not found; pass --csv PATH")
    features = [name.strip() for name in args.features.split(",") if name.strip()]
    unknown = [name for name in features if name not in CANDIDATE_FEATURES]
    if unknown or not features:
        parser.error(f"unknown features {unknown}; choose from {', '.join(CANDIDATE_FEATURES)}")
    columns = [CANDIDATE_FEATURES.index(name) for name in features]

    items = load_items(args)
    cv = cross_validate(items, columns, args.folds, args.l2)
    print(f"grouped {args.folds}-fold CV on train (folds by question): {json.dumps(cv)}")
    packed = pack(items, columns)
    weights, bias = fit_weights(packed, args.l2)
    covered, partly, t, train_f1 = choose_thresholds(packed, weights, bias)
    print(
        "weights: " + ", ".join(f"{n}={w:+.3f}" for n, w in zip(features, weights, strict=True)) + f", bias={bias:+.3f}"
    )
    print(
        f"verdicts: covered >= {covered}, partly >= {partly}; correct iff score >= {t} (train macro-F1 {train_f1:.4f})"
    )
    if not args.no_write:
        report = {
            "data": "SciEntsBank 2-way, train split only",
            "answers": len(items),
            "granularity": args.granularity,
            "l2": args.l2,
            "train_macro_f1": round(train_f1, 4),
            "grouped_cv": cv,
        }
        write_params(args.out, features, weights, bias, (covered, partly, t), report)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
