"""Choose how the offline grader turns the judge's probabilities into verdicts, on selection data only.

    python -m evals.select_judge [--no-write]

Selection data (none of it reports a figure in the gate):
- SciEntsBank 2-way *train* answers to the 15% of questions the judge was not trained on
  (`evals.train_judge.is_dev_group`): macro-F1 with the best score threshold;
- the team sets' *tuning* questions (evals/question_split.yaml): QWK against gold, misconception recall,
  false flags on good answers.
A grid over the coverage weight and the thresholds is scored on both; the best setting within the
false-flag limit is written to `judge` in rag/grading/offline_params.json with the score threshold.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evals.benchmark import question_alternatives, read_benchmark
from evals.judge_data import DATASETS_DIR
from evals.metrics import fit_threshold, quadratic_weighted_kappa
from evals.sets import load_sets
from evals.split import load_split
from evals.train_judge import is_dev_group
from rag.grading.judge import weights_digest
from rag.grading.matching import PARAMS_PATH, JudgeParams, Matcher, default_params
from rag.grading.offline import OfflineGrader, Reading, call_point, is_off_topic, stated_misconception
from rag.grading.result import Verdict
from rag.grading.rubric import Rubric, default_rubric
from rag.questions import Question, load_question_bank
from rag.settings import PROJECT_ROOT

CANDIDATES = 3
FALSE_FLAG_LIMIT = 0.03
GRID = {
    "weight": (0.5, 0.7, 0.85, 1.0),
    "covered": (0.45, 0.55, 0.65, 0.75),
    "gap": (0.15, 0.3),
    "contradicted": (0.5, 0.6, 0.7, 0.8, 0.9),
    "misconception": (0.5, 0.6, 0.7, 0.8, 0.9),
}
OFF_TOPIC = 0.15


@dataclass(frozen=True)
class Collected:
    """One answer's readings against one question (alternative): key points, then misconceptions."""

    weights: tuple[int, ...]
    points: tuple[Reading, ...]
    misconceptions: tuple[Reading, ...]


def collect(grader: OfflineGrader, question: Question, answer: str) -> Collected | None:
    view = grader.matcher.view_answer(grader._blank_injections(answer))
    if not view.units:
        return None
    readings = grader.read(
        question,
        view,
        [(kp.text, (kp.text, *kp.paraphrases)) for kp in question.key_points]
        + [(m.claim, (m.claim,)) for m in question.misconceptions],
    )
    n = len(question.key_points)
    return Collected(tuple(kp.weight for kp in question.key_points), tuple(readings[:n]), tuple(readings[n:]))


def simulate(collected: Collected | None, params: JudgeParams, rubric: Rubric) -> tuple[float, bool]:
    """(score, flagged) as the grader would give them with `params`; mirrors `compute_score`."""
    if collected is None:
        return 0.0, False
    calls = [call_point(r, params, rubric) for r in collected.points]
    found = sum(stated_misconception(r, params) is not None for r in collected.misconceptions)
    if is_off_topic(calls, bool(found), params):
        return 0.0, False
    earned = sum(w * rubric.credit(c.verdict.value, c.credit) for w, c in zip(collected.weights, calls, strict=True))
    contradicted = sum(c.verdict is Verdict.contradicted for c in calls)
    penalty = rubric.penalties.misconception * found + rubric.penalties.contradiction * contradicted
    score = round(max(0.0, min(10.0, 10.0 * earned / sum(collected.weights) - penalty)), 1)
    return score, bool(found or contradicted)


def settings_grid() -> list[JudgeParams]:
    grid = []
    for weight, covered, gap, contradicted, misconception in itertools.product(*GRID.values()):
        grid.append(
            JudgeParams(
                candidates=CANDIDATES,
                weight=weight,
                covered=covered,
                partly=round(max(0.0, covered - gap), 4),
                contradicted=contradicted,
                misconception=misconception,
                off_topic=OFF_TOPIC,
            )
        )
    return grid


def scientsbank_selection(datasets_dir: Path) -> list[tuple[tuple[Question, ...], str, bool]]:
    bench = read_benchmark(datasets_dir / "scientsbank" / "scientsbank_2way.csv", ["train"])
    rows = [r for r in bench.rows if is_dev_group(f"scientsbank:{r.question_key}")]
    cache: dict[tuple, tuple[Question, ...]] = {}
    selected = []
    for row in rows:
        key = (row.question_key, row.question, row.references)
        if key not in cache:
            cache[key] = question_alternatives(f"sel-{len(cache)}", row.question, row.references, "sentence")
        selected.append((cache[key], row.answer, bool(row.label)))
    return selected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.select_judge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR, help="shared datasets folder")
    parser.add_argument("--no-write", action="store_true", help="print the choice, leave offline_params.json alone")
    args = parser.parse_args(argv)

    base = default_params()
    provisional = JudgeParams(
        candidates=CANDIDATES, weight=1.0, covered=0.5, partly=0.3, contradicted=0.5, misconception=0.5, off_topic=0.15
    )
    grader = OfflineGrader(Matcher(params=base.model_copy(update={"judge": provisional})))
    rubric = default_rubric()

    science = scientsbank_selection(args.datasets)
    science_readings = [
        [collect(grader, q, answer) for q in alternatives]
        for alternatives, answer, _ in tqdm(science, desc="SciEntsBank selection answers", file=sys.stderr)
    ]
    science_labels = [label for *_, label in science]

    bank = load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml")
    split = load_split()
    records = [
        loaded.record
        for eval_set in load_sets([], [q.id for q in bank.questions])
        for loaded in eval_set.records
        if split.part(loaded.record.question_id) == "tuning"
    ]
    team_readings = [
        collect(grader, bank.get(r.question_id), r.answer)
        for r in tqdm(records, desc="team tuning answers", file=sys.stderr)
    ]
    good = [i for i, r in enumerate(records) if r.tier in ("excellent", "good") and r.kind in ("plain", "paraphrase")]
    wrong = [i for i, r in enumerate(records) if r.kind == "misconception"]

    results = []
    for params in tqdm(settings_grid(), desc="settings", file=sys.stderr):
        science_scores = [max(simulate(c, params, rubric)[0] for c in alts) for alts in science_readings]
        threshold, f1 = fit_threshold(science_scores, science_labels)
        team = [simulate(c, params, rubric) for c in team_readings]
        qwk = quadratic_weighted_kappa([s for s, _ in team], [r.gold_score for r in records])
        false_flags = float(np.mean([team[i][1] for i in good])) if good else 0.0
        recall = float(np.mean([team[i][1] for i in wrong])) if wrong else 0.0
        results.append((params, threshold, f1, qwk or 0.0, false_flags, recall))
    allowed = [r for r in results if r[4] <= FALSE_FLAG_LIMIT] or results
    params, threshold, f1, qwk, false_flags, recall = max(allowed, key=lambda r: r[2] + r[3] + 0.25 * r[5])
    summary = {
        "scientsbank_selection_answers": len(science),
        "scientsbank_selection_macro_f1": round(f1, 4),
        "team_tuning_answers": len(records),
        "team_tuning_qwk": round(qwk, 4),
        "team_tuning_false_flags": round(false_flags, 4),
        "team_tuning_misconception_recall": round(recall, 4),
        "judge_weights": weights_digest(),
    }
    chosen = params.model_copy(
        update={
            "selected_on": "SciEntsBank train answers to the judge's held-out questions; team tuning questions",
        }
    )
    print(json.dumps({"judge": chosen.model_dump(), "score_threshold": threshold, **summary}, indent=2))
    if not args.no_write:
        data = json.loads(PARAMS_PATH.read_text(encoding="utf-8"))
        data["judge"] = {**chosen.model_dump(), "selection": summary}
        data["score_threshold"] = threshold
        PARAMS_PATH.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {PARAMS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
