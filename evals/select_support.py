"""Choose the reference-support thresholds (rag/grading/support.py) on selection data only.

    python -m evals.select_support [--write] [--limit N] [--cases FILE.pickle] [--whole-answer]

Selection data; none of it reports a figure in the gate:
- SAF (networking, long answers, scored 0-1) *training* split: Pearson of our score with the human score;
- SemEval-2013 SciEntsBank and Beetle *train* answers: 2-way macro-F1 at the best score threshold, for
  each. By default every train question counts and the judge's gate stays off (`entails` 0), because the
  judge trained on most of those answers and would look better on them than on unseen ones. With
  `--judge-gate` only the questions the judge did not train on count (`evals.train_judge.is_dev_group`),
  about 20 per set, and the gate is in the grid.
The matcher, the judge's review and the support readings run once per answer; every setting of the grid
is replayed with the grader's own `conclude`.

Rule: the setting with the best SAF Pearson whose macro-F1 on each SemEval set stays within
F1_TOLERANCE of the grader without support. The grid includes `min_points`, the fewest reference
sentences a question needs to get support at all (SemEval references are mostly one sentence, SAF's
several). With `--write` it goes to `reference_support` in
rag/grading/offline_params.json with the figures it was chosen on. The chosen setting is also reported on
each half of the SAF questions, to show the figure is not carried by a few questions.

With `--whole-answer` the support stays as shipped and the grid is the whole-answer similarity's share of
coverage and its ramp (`WHOLE_ANSWER_GRID`; the share never above MAX_WHOLE_ANSWER_SHARE), under the same
rule against the shipped grader; `--write` then stores it as `reference_support.whole_answer`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr
from tqdm import tqdm

from evals.benchmark import question_alternatives
from evals.config import configured_prompt_files
from evals.judge_data import DATASETS_DIR
from evals.metrics import fit_threshold
from evals.select_review import first_per_group, saved_or_read
from evals.train_judge import is_dev_group
from evals.workers import WorkerPool
from rag.grading.match_params import save_params_section
from rag.grading.offline import Assessment, OfflineGrader
from rag.grading.support import MAX_WHOLE_ANSWER_SHARE, SupportParams, WholeAnswerParams
from rag.questions import Question

NEAREST = 2
F1_TOLERANCE = 0.001
"""A SemEval train F1 may fall by rounding noise only: at 0.005 a setting passed here and lost 0.007-0.014
on every SciEntsBank test split (docs/decisions.md)."""
GRID = {
    "low": (0.0, 0.1, 0.2, 0.3, 0.4),
    "high": (0.5, 0.6, 0.7, 0.8, 0.9),
    "weight": (0.25, 0.5, 0.75, 1.0),
    "min_points": (1, 2, 3, 4),
}
WHOLE_ANSWER_GRID = {
    "share": (0.1, 0.2, MAX_WHOLE_ANSWER_SHARE),
    "low": (0.0, 0.1, 0.2, 0.3),
    "high": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
}
GATE_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
"""Judge entails thresholds tried with `--judge-gate` (besides 0, the gate off)."""
READING = SupportParams(
    low=0.0, high=1.0, entails=0.0, nearest=NEAREST, whole_answer=WholeAnswerParams(share=0.1, low=0.0, high=1.0)
)
"""The settings the readings are taken with: only `nearest` matters (the judge reads every point, or none) and
that `whole_answer` is set (the whole-answer similarity is read)."""


@dataclass(frozen=True)
class Case:
    group: str
    """saf, semeval-scientsbank or semeval-beetle."""
    question_key: str
    questions: tuple[Question, ...]
    assessments: tuple[Assessment | None, ...]
    gold: float


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


SEMEVAL_SETS = ("scientsbank", "beetle")
SET_NAMES = {"scientsbank": "SciEntsBank", "beetle": "Beetle"}


def selection_cases(
    grader: OfflineGrader,
    datasets_dir: Path,
    limit: int | None,
    judge_gate: bool,
    semeval_sets: Sequence[str] = SEMEVAL_SETS,
    pool: WorkerPool | None = None,
) -> list[Case]:
    """SAF train and the SemEval train answers (only the judge's held-out questions with `judge_gate`), each
    assessed once; with `pool`, by its workers (each with a grader built as `grader` was), in the same order."""
    planned: list[tuple[str, str, str, str, str, float]] = []
    for row in _rows(datasets_dir / "saf" / "saf_train.csv"):
        planned.append(("saf", row["question_id"], row["question"], row["reference_answer"], row["student_answer"],
                        float(row["score"])))
    for name in semeval_sets:
        for row in _rows(datasets_dir / "semeval2013" / f"{name}.csv"):
            key = f"{name}:{row['question_id']}"
            if row["split"] == "train" and (is_dev_group(key) or not judge_gate):
                gold = 1.0 if row["label_2way"] == "correct" else 0.0
                planned.append((f"semeval-{name}", key, row["question"], row["reference_answer"],
                                row["student_answer"], gold))
    planned = first_per_group(planned, limit)
    questions: dict[tuple[str, str, str], tuple[Question, ...]] = {}
    items = []
    for group, key, question, reference, answer, gold in planned:
        if (key, question, reference) not in questions:
            references = tuple(r.strip() for r in reference.split("||") if r.strip())
            questions[(key, question, reference)] = question_alternatives(f"sel-{len(questions)}", question, references)
        items.append((group, key, questions[(key, question, reference)], answer, gold))
    job = partial(_assess_item, grader.judge_work(grader.review_params), judge_gate)
    progress = partial(tqdm, total=len(items), desc="reading selection answers", unit="answer", file=sys.stderr)
    if pool is not None:
        return list(progress(pool.map(job, items)))
    return [job(grader, item) for item in progress(items)]


def _assess_item(
    judge_work: tuple[bool, int], judge_gate: bool, grader: OfflineGrader,
    item: tuple[str, str, tuple[Question, ...], str, float],
) -> Case:
    judged, candidates = judge_work
    group, key, qs, answer, gold = item
    assessments = tuple(
        grader.assess(q, answer, judged, candidates, support_params=READING, judge_every_support=judge_gate)
        for q in qs
    )
    return Case(group, key, qs, assessments, gold)


def alternative_scores(grader: OfflineGrader, cases: Sequence[Case], params: SupportParams | None) -> list[list[float]]:
    """Per case, the score against each of its question alternatives (one per reference answer)."""
    return [
        [
            grader.conclude(q, a, grader.review_params, support_params=params).score or 0.0
            for q, a in zip(case.questions, case.assessments, strict=True)
        ]
        for case in cases
    ]


def combined_scores(
    cases: Sequence[Case], with_support: list[list[float]], without: list[list[float]], min_points: int
) -> np.ndarray:
    """Each case's best score when only alternatives of at least `min_points` key points get support."""
    return np.asarray([
        max(
            w if len(q.key_points) >= min_points else o
            for q, w, o in zip(case.questions, alt_with, alt_without, strict=True)
        )
        for case, alt_with, alt_without in zip(cases, with_support, without, strict=True)
    ])


def best_scores(per_alternative: list[list[float]]) -> np.ndarray:
    """Each case's best score over its alternatives (an answer keeps its best grade)."""
    return np.asarray([max(alternatives) for alternatives in per_alternative])


def scores(grader: OfflineGrader, cases: Sequence[Case], params: SupportParams | None) -> np.ndarray:
    return best_scores(alternative_scores(grader, cases, params))


def figures(grader: OfflineGrader, cases: Sequence[Case], params: SupportParams | None) -> dict[str, float]:
    return figures_of(cases, scores(grader, cases, params))


def figures_of(cases: Sequence[Case], values: np.ndarray) -> dict[str, float]:
    groups = np.asarray([c.group for c in cases])
    gold = np.asarray([c.gold for c in cases])
    result: dict[str, float] = {}
    saf = groups == "saf"
    if saf.sum() >= 3 and values[saf].std() > 0 and gold[saf].std() > 0:
        result["saf_pearson"] = round(float(pearsonr(values[saf], gold[saf])[0]), 4)
    if (saf & (gold == 1.0)).any():
        result["saf_mean_correct"] = round(float(values[saf & (gold == 1.0)].mean()), 2)
    for name in ("scientsbank", "beetle"):
        mask = groups == f"semeval-{name}"
        if mask.any():
            _, f1 = fit_threshold(values[mask].tolist(), (gold[mask] == 1.0).tolist())
            result[f"{name}_macro_f1"] = round(float(f1), 4)
    return result


def allowed(found: dict[str, float], baseline: dict[str, float]) -> bool:
    return all(
        found.get(key, 0.0) >= baseline[key] - F1_TOLERANCE for key in ("scientsbank_macro_f1", "beetle_macro_f1")
        if key in baseline
    )


def selected_on(semeval: Sequence[str], which_questions: str) -> str:
    """What a choice was selected on, as stored beside it in offline_params.json."""
    sets = " and ".join(SET_NAMES[name] for name in semeval)
    return f"SAF train (all 16 questions); SemEval-2013 {sets} train answers{which_questions}"


def answer_counts(cases: Sequence[Case]) -> dict[str, int]:
    return dict(sorted(Counter(c.group for c in cases).items()))


def split_check(
    grader: OfflineGrader, cases: Sequence[Case], params: SupportParams, before: SupportParams | None = None
) -> dict[str, dict[str, float]]:
    """The chosen setting and `before` (no support) on each half of the SAF questions (alternating by id)."""
    keys = sorted({c.question_key for c in cases if c.group == "saf"})
    halves = {"saf_half_a": set(keys[::2]), "saf_half_b": set(keys[1::2])}
    report = {}
    for name, keep in halves.items():
        part = [c for c in cases if c.group == "saf" and c.question_key in keep]
        without, with_support = figures(grader, part, before), figures(grader, part, params)
        if "saf_pearson" in without and "saf_pearson" in with_support:
            report[name] = {"without": without["saf_pearson"], "with": with_support["saf_pearson"]}
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.select_support", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR, help="shared datasets folder")
    parser.add_argument("--limit", type=int, metavar="N", help="first N answers per data group (smoke run)")
    parser.add_argument("--write", action="store_true",
                        help="write the choice to offline_params.json (by default it is only printed)")
    parser.add_argument("--cases", type=Path, metavar="FILE.pickle",
                        help="reuse the readings saved here by an earlier run with the same models, or save them")
    parser.add_argument("--judge-gate", action="store_true",
                        help="try the judge's gate, selecting on the SemEval questions the judge did not train on")
    parser.add_argument("--semeval", nargs="+", choices=SEMEVAL_SETS, default=list(SEMEVAL_SETS),
                        help="SemEval-2013 sets whose F1 must hold (Beetle's answers carry about 4 references each, "
                        "so it costs most of the reading)")
    parser.add_argument("--whole-answer", action="store_true",
                        help="keep the shipped support and choose the whole-answer similarity's share of coverage")
    args = parser.parse_args(argv)

    grader = OfflineGrader(files=configured_prompt_files())
    cases = saved_or_read(
        args.cases, lambda: selection_cases(grader, args.datasets, args.limit, args.judge_gate, args.semeval)
    )
    if args.whole_answer:
        return select_whole_answer(grader, cases, args.semeval, args.write)
    without = alternative_scores(grader, cases, None)
    baseline = figures_of(cases, best_scores(without))
    print(json.dumps({"without support": baseline}), file=sys.stderr)
    best: tuple[float, SupportParams, dict[str, float]] | None = None
    gates = (0.0, *GATE_GRID) if args.judge_gate else (0.0,)
    grid = {name: values for name, values in GRID.items() if name != "min_points"}
    settings = [s for s in itertools.product(*grid.values(), gates) if s[1] > s[0]]
    for low, high, weight, entails in tqdm(settings, desc="trying settings", unit="setting", file=sys.stderr):
        read = SupportParams(low=low, high=high, entails=entails, nearest=NEAREST, weight=weight)
        with_support = alternative_scores(grader, cases, read)
        for min_points in GRID["min_points"]:
            params = read.model_copy(update={"min_points": min_points})
            found = figures_of(cases, combined_scores(cases, with_support, without, min_points))
            if "saf_pearson" in found and allowed(found, baseline) and (
                best is None or found["saf_pearson"] > best[0]
            ):
                best = (found["saf_pearson"], params, found)
    if best is None or best[0] <= baseline.get("saf_pearson", 1.0):
        print("no setting beats the grader without support within the limits; support stays off", file=sys.stderr)
        return 1
    _, params, found = best
    chosen = params.model_copy(
        update={
            "selected_on": selected_on(
                args.semeval,
                " to the judge's held-out questions" if args.judge_gate else " (every question; judge gate off)",
            ),
            "selection": {
                "with_support": found,
                "without_support": baseline,
                **split_check(grader, cases, params),
                "answers": answer_counts(cases),
            },
        }
    )
    print(json.dumps(chosen.model_dump(), indent=2))
    if args.write:
        print(f"wrote {save_params_section('reference_support', chosen.model_dump())}", file=sys.stderr)
    return 0


def select_whole_answer(grader: OfflineGrader, cases: Sequence[Case], semeval: Sequence[str], write: bool) -> int:
    """The whole-answer similarity setting with the best SAF Pearson whose SemEval F1 holds, over the shipped
    support; printed, and written with `write`."""
    shipped = grader.support_params
    if shipped is None:
        print("choose the reference support first: the whole-answer share sits on top of it", file=sys.stderr)
        return 2
    base = shipped.model_copy(update={"whole_answer": None})
    baseline = figures(grader, cases, base)
    print(json.dumps({"support as shipped, no whole-answer share": baseline}), file=sys.stderr)
    best: tuple[float, WholeAnswerParams, dict[str, float]] | None = None
    settings = [s for s in itertools.product(*WHOLE_ANSWER_GRID.values()) if s[2] > s[1]]
    for share, low, high in tqdm(settings, desc="trying settings", unit="setting", file=sys.stderr):
        whole = WholeAnswerParams(share=share, low=low, high=high)
        found = figures(grader, cases, base.model_copy(update={"whole_answer": whole}))
        if "saf_pearson" in found and allowed(found, baseline) and (best is None or found["saf_pearson"] > best[0]):
            best = (found["saf_pearson"], whole, found)
    if best is None or best[0] <= baseline.get("saf_pearson", 1.0):
        print("no setting beats the shipped support within the limits; the whole-answer share stays off",
              file=sys.stderr)
        return 1
    _, whole, found = best
    halves = split_check(grader, cases, base.model_copy(update={"whole_answer": whole}), base)
    whole = whole.model_copy(
        update={
            "selected_on": selected_on(semeval, " (every question)"),
            "selection": {
                "with_share": found,
                "without_share": baseline,
                **halves,
                "answers": answer_counts(cases),
            },
        }
    )
    chosen = base.model_copy(update={"whole_answer": whole})
    print(json.dumps(whole.model_dump(), indent=2))
    if write:
        print(f"wrote {save_params_section('reference_support', chosen.model_dump())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
