"""Choose the judge's review thresholds (rag/grading/review.py) on selection data only.

    python -m evals.select_review [--no-write] [--limit N]

Selection data; none of it reports a figure in the gate:
- the team sets' answers to the *tuning* questions (evals/question_split.yaml): QWK against gold,
  misconception recall, false flags on excellent/good plain or paraphrase answers, the share of
  paraphrase groups whose scores lie within one point;
- the generated suites (evals/suites.py) built from the *tuning* questions: swap contradiction recall,
  paraphrases covered, hedge and keyword-list scores;
- SciEntsBank 2-way *train* answers to the questions the judge did not train on
  (`evals.train_judge.is_dev_group`): macro-F1 at the best score threshold.
The matcher and the judge run once per answer; every setting of the grid is replayed with the grader's
own `conclude`, so the simulation is the grader. The best setting within the limits is written to
`review` in rag/grading/offline_params.json, with the figures it was chosen on.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from evals.benchmark import question_alternatives, read_benchmark
from evals.config import configured_prompt_files, usable_cores
from evals.judge_data import DATASETS_DIR
from evals.metrics import fit_threshold, quadratic_weighted_kappa
from evals.sets import load_sets
from evals.split import load_split
from evals.suites import flagged, suite_cases
from evals.train_judge import is_dev_group
from evals.workers import WorkerPool, worker_pool
from rag.grading.judge import Judge
from rag.grading.lexicon import Lexicon, load_lexicon
from rag.grading.match_params import load_params, save_params_section
from rag.grading.matching import Matcher
from rag.grading.offline import Assessment, OfflineGrader
from rag.grading.result import Grade, Verdict
from rag.grading.review import Reading, ReviewParams
from rag.questions import Question, load_question_bank
from rag.settings import PROJECT_ROOT

T = TypeVar("T", bound=tuple[Any, ...])
MAX_CANDIDATES = 3
FALSE_FLAG_LIMIT = 0.03
PARAPHRASE_FLOOR = 0.9
GENERATED_FALSE_FLAG_SLACK = 0.005
GENERATED_GOOD = ("paraphrase", "model")
"""Generated answers that state only true things: key-point paraphrases and model answers."""
ROUNDS = 2
GRID = {
    "candidates": (1, 2, 3),
    "veto_contradicts": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.01),
    "veto_neither": (0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.01),
    "veto_neither_shared": (0.6, 0.7, 0.8, 0.9, 0.95, 1.01),
    "contradicted": (0.6, 0.7, 0.8, 0.9, 0.95, 1.01),
    "misconception": (0.6, 0.7, 0.8, 0.9, 0.95, 1.01),
}


@dataclass(frozen=True)
class Case:
    """One selection answer: its question (alternatives for SciEntsBank), assessments, and what it is for."""

    group: str
    questions: tuple[Question, ...]
    assessments: tuple[Assessment | None, ...]
    gold: float | None = None
    label: bool | None = None
    kind: str = ""
    tier: str = ""
    point: str | None = None
    paraphrase_group: str | None = None


def fewer_candidates(assessment: Assessment | None, count: int) -> Assessment | None:
    """The assessment as if the judge had read only the `count` nearest sentences per claim."""
    if assessment is None or count >= MAX_CANDIDATES:
        return assessment

    def cut(reading: Reading) -> Reading:
        return replace(reading, spans=reading.spans[:count], probabilities=reading.probabilities[:count])

    return replace(
        assessment,
        point_readings=tuple(cut(r) for r in assessment.point_readings),
        misconception_readings=tuple(cut(r) for r in assessment.misconception_readings),
    )


def grade_case(grader: OfflineGrader, case: Case, params: ReviewParams | None) -> Grade:
    grades = [
        grader.conclude(
            q,
            fewer_candidates(a, params.candidates if params else MAX_CANDIDATES),
            params,
            support_params=grader.support_params,
        )
        for q, a in zip(case.questions, case.assessments, strict=True)
    ]
    return max(grades, key=lambda g: g.score or 0.0)


def figures(grader: OfflineGrader, cases: Sequence[Case], params: ReviewParams | None) -> dict[str, float]:
    """Every selection figure for one setting (None: the matcher's verdicts without review)."""
    grades = [grade_case(grader, case, params) for case in cases]
    result: dict[str, float] = {}

    def mean(values: list[bool] | list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    team = [(c, g) for c, g in zip(cases, grades, strict=True) if c.group == "team"]
    if team:
        result["team_qwk"] = quadratic_weighted_kappa([g.score or 0.0 for _, g in team], [c.gold for c, _ in team]) or 0
        result["team_misconception_recall"] = mean([flagged(g) for c, g in team if c.kind == "misconception"])
        result["team_false_flags"] = mean(
            [flagged(g) for c, g in team if c.tier in ("excellent", "good") and c.kind in ("plain", "paraphrase")]
        )
        groups: dict[str, list[float]] = {}
        for c, g in team:
            if c.paraphrase_group:
                groups.setdefault(c.paraphrase_group, []).append(g.score or 0.0)
        spreads = [max(scores) - min(scores) for scores in groups.values() if len(scores) >= 2]
        result["team_paraphrase_within_1"] = mean([spread <= 1.0 + 1e-9 for spread in spreads])
        result["team_paraphrase_groups"] = len(spreads)
    suites = [(c, g) for c, g in zip(cases, grades, strict=True) if c.group == "suite"]
    if suites:
        result["swap_recall"] = mean([flagged(g, c.point) for c, g in suites if c.kind == "swap"])
        result["paraphrase_covered"] = mean(
            [
                any(v.key_point_id == c.point and v.verdict is Verdict.covered for v in g.key_points)
                for c, g in suites
                if c.kind == "paraphrase"
            ]
        )
        result["generated_false_flags"] = mean([flagged(g) for c, g in suites if c.kind in GENERATED_GOOD])
        result["hedge_score"] = mean([g.score or 0.0 for c, g in suites if c.kind == "hedge"])
        result["keyword_score"] = mean([g.score or 0.0 for c, g in suites if c.kind == "keywords"])
    science = [(c, g) for c, g in zip(cases, grades, strict=True) if c.group == "scientsbank"]
    if science:
        threshold, f1 = fit_threshold([g.score or 0.0 for _, g in science], [bool(c.label) for c, _ in science])
        result["scientsbank_macro_f1"] = f1
        result["scientsbank_threshold"] = threshold
    return {k: round(float(v), 4) for k, v in result.items()}


def objective(f: dict[str, float]) -> float:
    """Higher is better: agreement with people first, then catching wrong claims, then not paying for filler."""
    return (
        f.get("team_qwk", 0)
        + f.get("scientsbank_macro_f1", 0)
        + 0.25 * (f.get("team_misconception_recall", 0) + f.get("swap_recall", 0))
        - 0.02 * (f.get("hedge_score", 0) + f.get("keyword_score", 0))
    )


def allowed(f: dict[str, float], baseline: dict[str, float]) -> bool:
    """Within the limits: false flags (team good answers; generated true statements, at most half a point
    above the baseline), paraphrases covered, and paraphrased answers scoring alike.

    Paraphrase groups are few (about two dozen tuning groups), so the last limit allows one more group
    than the baseline to spread beyond one point, and no more.
    """
    one_group = 1.0 / max(1.0, baseline.get("team_paraphrase_groups", 1.0))
    return (
        f.get("team_false_flags", 0) <= max(FALSE_FLAG_LIMIT, baseline.get("team_false_flags", 0))
        and f.get("generated_false_flags", 0)
        <= baseline.get("generated_false_flags", 0) + GENERATED_FALSE_FLAG_SLACK + 1e-9
        and f.get("paraphrase_covered", 1) >= min(PARAPHRASE_FLOOR, baseline.get("paraphrase_covered", 1))
        and f.get("team_paraphrase_within_1", 1) >= baseline.get("team_paraphrase_within_1", 1) - one_group - 1e-6
    )


def coordinate_search(
    grader: OfflineGrader,
    cases: Sequence[Case],
    baseline: dict[str, float],
    rounds: int = ROUNDS,
    trace: list[dict] | None = None,
) -> tuple[ReviewParams | None, dict[str, float]]:
    """The best allowed setting by coordinate ascent over GRID, from every rule off.

    One threshold moves at a time to its best value with the others fixed; `rounds` passes. A full grid
    would replay every answer thousands of times for little gain.
    """
    current = {name: values[-1] if name != "candidates" else values[0] for name, values in GRID.items()}
    best: tuple[float, ReviewParams, dict[str, float]] | None = None
    seen: dict[tuple, dict[str, float]] = {}
    steps = [(name, value) for _ in range(rounds) for name in GRID for value in GRID[name]]
    for name, value in tqdm(steps, desc="settings", unit="setting", file=sys.stderr):
        trial = {**current, name: value}
        key = tuple(trial.values())
        if key not in seen:
            seen[key] = figures(grader, cases, ReviewParams(**trial))
        found = seen[key]
        if trace is not None:
            trace.append({**trial, **found, "allowed": allowed(found, baseline)})
        if allowed(found, baseline) and (best is None or objective(found) > best[0]):
            best = (objective(found), ReviewParams(**trial), found)
            current = trial
    return (best[1], best[2]) if best else (None, baseline)


def saved_or_read(path: Path | None, read: Callable[[], list[Any]]) -> list[Any]:
    """Selection cases from `path` when an earlier run saved them there, else read now (and saved when asked)."""
    if path is not None and path.is_file():
        return pickle.loads(path.read_bytes())
    cases = read()
    if path is not None:
        path.write_bytes(pickle.dumps(cases))
    return cases


def first_per_group(planned: Sequence[T], limit: int | None) -> list[T]:
    """The first `limit` items of each group (an item's first field names its group); all without a limit."""
    if limit is None:
        return list(planned)
    counts: Counter[str] = Counter()
    kept = []
    for item in planned:
        counts[item[0]] += 1
        if counts[item[0]] <= limit:
            kept.append(item)
    return kept


Planned = tuple[str, tuple[Question, ...], str, dict]
"""(group, questions, answer, the other Case fields) of one selection answer, before it is read."""


def planned_cases(
    datasets_dir: Path,
    groups: Sequence[str] = ("team", "suite", "scientsbank"),
    suite_lexicon: Lexicon | None = None,
) -> list[Planned]:
    """The selection answers of `groups`: team answers and generated suites of the tuning questions (with
    their model answers as generated good answers), SciEntsBank train answers to the judge's held-out
    questions. The suites are generated with `suite_lexicon` (default: the configured one), so a variant
    lexicon can be graded on the same generated answers as the shipped one."""
    bank = load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml")
    split = load_split()
    tuning = [q for q in bank.questions if split.part(q.id) == "tuning"]
    planned: list[Planned] = []
    for eval_set in load_sets([], [q.id for q in bank.questions]) if "team" in groups else ():
        for loaded in eval_set.records:
            record = loaded.record
            if split.part(record.question_id) == "tuning":
                extra = {
                    "gold": record.gold_score,
                    "kind": record.kind,
                    "tier": record.tier,
                    "paraphrase_group": record.group,
                }
                planned.append(("team", (bank.get(record.question_id),), record.answer, extra))
    if "suite" in groups:
        for case in suite_cases(tuning, suite_lexicon or load_lexicon()):
            if case["suite"] in ("swap", "paraphrase", "hedge", "keywords"):
                extra = {"kind": case["suite"], "point": case.get("point")}
                planned.append(("suite", (case["question"],), case["answer"], extra))
        planned.extend(("suite", (q,), q.model_answer, {"kind": "model"}) for q in tuning)
    if "scientsbank" not in groups:
        return planned
    bench = read_benchmark(datasets_dir / "scientsbank" / "scientsbank_2way.csv", ["train"])
    questions: dict[tuple, tuple[Question, ...]] = {}
    for row in bench.rows:
        if not is_dev_group(f"scientsbank:{row.question_key}"):
            continue
        key = (row.question_key, row.question, row.references)
        if key not in questions:
            questions[key] = question_alternatives(f"sel-{len(questions)}", row.question, row.references)
        planned.append(("scientsbank", questions[key], row.answer, {"label": row.label}))
    return planned


def _assess_planned(judge_work: tuple[bool, int], grader: OfflineGrader, item: Planned) -> Case:
    judged, candidates = judge_work
    group, qs, answer, extra = item
    assessments = tuple(
        grader.assess(q, answer, judged, candidates, support_params=grader.support_params) for q in qs
    )
    return Case(group=group, questions=qs, assessments=assessments, **extra)


def read_cases(
    grader: OfflineGrader,
    planned: Sequence[Planned],
    judge_work: tuple[bool, int] = (True, MAX_CANDIDATES),
    pool: WorkerPool | None = None,
) -> list[Case]:
    """Each planned answer assessed once by the matcher and the judge; `judge_work` (whether the judge reads,
    and how many sentences per claim) defaults to every sentence any review setting may need. With `pool`,
    its workers assess (each with a grader built as `grader` was), in the same order."""
    job = partial(_assess_planned, judge_work)
    progress = partial(tqdm, total=len(planned), desc="reading selection answers", unit="answer", file=sys.stderr)
    if pool is not None:
        return list(progress(pool.map(job, planned)))
    return [job(grader, item) for item in progress(planned)]


def review_grader(params: Path | None = None, judge: Path | None = None) -> OfflineGrader:
    """The offline grader the selection tools read answers with: the configured prompts, matcher parameters
    from `params` (default: offline_params.json) and the judge in `judge` (default: the committed one). A
    module-level function, so worker processes can build theirs with it."""
    files = configured_prompt_files()
    matcher = Matcher(params=load_params(params), lexicon=files.lexicon()) if params else None
    return OfflineGrader(matcher=matcher, judge=Judge(judge) if judge else None, files=files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.select_review", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR, help="shared datasets folder")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N answers per selection group (tests)")
    parser.add_argument("--no-write", action="store_true", help="print the choice, leave offline_params.json alone")
    parser.add_argument("--judge", type=Path, metavar="DIR", help="judge folder (default: the committed one)")
    parser.add_argument("--params", type=Path, metavar="FILE.json",
                        help="matcher parameters to select for (default: rag/grading/offline_params.json)")
    parser.add_argument("--trace", type=Path, metavar="FILE.jsonl", help="write every setting tried and its figures")
    parser.add_argument("--workers", type=int, default=usable_cores(), metavar="N",
                        help="processes that read the answers (default: one per usable core)")
    parser.add_argument("--cases", type=Path, metavar="FILE.pickle",
                        help="reuse the readings saved here by an earlier run with the same judge, or save them")
    args = parser.parse_args(argv)

    recipe = partial(review_grader, args.params, args.judge)
    grader = recipe()

    def read() -> list[Case]:
        with worker_pool(recipe, args.workers) as pool:
            return read_cases(grader, first_per_group(planned_cases(args.datasets), args.limit), pool=pool)

    cases = saved_or_read(args.cases, read)
    baseline = figures(grader, cases, None)
    print(json.dumps({"without review": baseline}), file=sys.stderr)
    trace: list[dict] = []
    params, found = coordinate_search(grader, cases, baseline, trace=trace)
    if args.trace:
        args.trace.write_text("".join(json.dumps(row) + "\n" for row in trace), encoding="utf-8")
    if params is None:
        print("no setting stays within the false-flag and paraphrase limits; the review stays off", file=sys.stderr)
        return 1
    chosen = params.model_copy(
        update={
            "selected_on": "team tuning questions; suites from the tuning questions; "
            "SciEntsBank train answers to the judge's held-out questions",
            "selection": {"with_review": found, "without_review": baseline, "answers": len(cases)},
        }
    )
    print(json.dumps(chosen.model_dump(), indent=2))
    if not args.no_write:
        print(f"wrote {save_params_section('review', chosen.model_dump(), args.params)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
