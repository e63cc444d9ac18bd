"""Choose how a stated misconception is recognised (match threshold, cosine margin, listed paraphrases) on
selection data only.

    python -m evals.select_misconceptions [--write] [--limit N]

Selection data; none of it reports a figure in the gate:
- the team sets' answers to the *tuning* questions (evals/question_split.yaml): misconception recall, false
  flags on excellent/good answers, QWK, paraphrase groups within one point;
- generated answers that state only true things about the tuning questions, each key point's paraphrases
  and each model answer: the share that gets a flag.

Each variant grades every answer with the whole grader, the judge's review included. The rule, fixed
before any run: among the variants with no more team false flags than the shipped setting, generated
false flags at most half a point above it, paraphrase groups within one point no lower than one group
under it and QWK within 0.005 of it, the highest team misconception recall wins; ties go to the strictest
variant (higher threshold, then higher margin, then paraphrases off). With `--write` the choice and the
figures of every variant go to offline_params.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from evals.config import configured_prompt_files
from evals.judge_data import DATASETS_DIR
from evals.select_review import (
    GENERATED_FALSE_FLAG_SLACK,
    GENERATED_GOOD,
    figures,
    first_per_group,
    planned_cases,
    read_cases,
)
from rag.grading.judge import get_judge
from rag.grading.match_params import MatchParams, default_params, save_params_section
from rag.grading.matching import Matcher
from rag.grading.offline import OfflineGrader

GRID = {
    "misconception": (0.6, 0.65, 0.7, 0.75),
    "misconception_margin": (-0.03, 0.0, 0.03),
    "paraphrases": (False, True),
}
QWK_SLACK = 0.005
REPORTED = (
    "team_qwk", "team_misconception_recall", "team_false_flags", "team_paraphrase_within_1",
    "team_paraphrase_groups", "paraphrase_covered", "generated_false_flags",
)
SELECTED_ON = "team answers to the tuning questions; the tuning questions' key-point paraphrases and model answers"

Setting = tuple[float, float, bool]
"""(misconception threshold, cosine margin, paraphrases matched)."""


def variant(base: MatchParams, setting: Setting) -> MatchParams:
    threshold, margin, paraphrases = setting
    thresholds = base.thresholds.model_copy(update={"misconception": threshold, "misconception_margin": margin})
    return base.model_copy(update={"misconception_paraphrases": paraphrases, "thresholds": thresholds})


def shipped(base: MatchParams) -> Setting:
    return (base.thresholds.misconception, base.thresholds.misconception_margin, base.misconception_paraphrases)


def allowed(found: dict[str, float], baseline: dict[str, float]) -> bool:
    one_group = 1.0 / max(1.0, baseline.get("team_paraphrase_groups", 1.0))
    return (
        found["team_false_flags"] <= baseline["team_false_flags"] + 1e-9
        and found["generated_false_flags"] <= baseline["generated_false_flags"] + GENERATED_FALSE_FLAG_SLACK + 1e-9
        and found["team_paraphrase_within_1"] >= baseline["team_paraphrase_within_1"] - one_group - 1e-6
        and found["team_qwk"] >= baseline["team_qwk"] - QWK_SLACK
    )


def choose(results: dict[Setting, dict[str, float]], baseline: Setting) -> Setting:
    """The allowed setting with the highest misconception recall; ties to the strictest; else the baseline."""
    base = results[baseline]
    candidates = [s for s, found in results.items() if allowed(found, base)]
    return max(
        candidates,
        key=lambda s: (results[s]["team_misconception_recall"], s[0], s[1], not s[2]),
        default=baseline,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.select_misconceptions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR, help="shared datasets folder")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N answers per selection group (tests)")
    parser.add_argument("--write", action="store_true", help="store the choice in offline_params.json")
    args = parser.parse_args(argv)

    planned = first_per_group(
        [
            case
            for case in planned_cases(args.datasets, groups=("team", "suite"))
            if case[0] == "team" or case[3].get("kind") in GENERATED_GOOD
        ],
        args.limit,
    )
    base = default_params()
    baseline = shipped(base)
    files = configured_prompt_files()
    shared = Matcher(params=base, lexicon=files.lexicon())
    judge = get_judge()
    settings = list(dict.fromkeys([baseline, *itertools.product(*GRID.values())]))
    results: dict[Setting, dict[str, float]] = {}
    for setting in tqdm(settings, desc="settings", unit="setting", file=sys.stderr):
        matcher = Matcher(embedder=shared.embedder, lexicon=shared.lexicon, params=variant(base, setting))
        grader = OfflineGrader(matcher=matcher, judge=judge, files=files)
        cases = read_cases(grader, planned, grader.judge_work(grader.review_params))
        found = figures(grader, cases, grader.review_params)
        results[setting] = {name: found[name] for name in REPORTED if name in found}
        print(json.dumps({"setting": setting, **results[setting]}), file=sys.stderr)
    chosen = choose(results, baseline)
    threshold, margin, paraphrases = chosen
    summary = {
        "misconception": threshold,
        "misconception_margin": margin,
        "misconception_paraphrases": paraphrases,
        "selected_on": SELECTED_ON,
        "answers": len(planned),
        "chosen": results[chosen],
        "shipped_before": results[baseline],
        "settings": [{"setting": list(s), **found} for s, found in results.items()],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=2))
    if args.write:
        save_params_section("misconception_paraphrases", paraphrases)
        thresholds = base.thresholds.model_dump(exclude_none=True)
        thresholds.update({"misconception": threshold, "misconception_margin": margin})
        save_params_section("thresholds", thresholds)
        print(f"wrote {save_params_section('misconception_selection', summary)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
