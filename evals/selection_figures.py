"""The grader's figures on every selection group, as configured now, and a fixed rule to compare two of them.

    python -m evals.selection_figures --out FILE.json [--limit N]
    python -m evals.selection_figures --compare BASELINE.json VARIANT.json

A change that is not a threshold (a lexicon word list, a matcher rule) is chosen like a threshold: run
this once without the change and once with it (e.g. `PREP_PROMPTS_DIR` pointing at an edited copy of
prompts/), then `--compare`. Only selection data is read, none of which reports a figure in the gate:
- team answers to the tuning questions, suites generated from the tuning questions (by the shipped
  lexicon, whatever lexicon grades them) and SciEntsBank train
  answers to the judge's held-out questions (`evals.select_review`), at the shipped review thresholds;
- SAF train and every SemEval-2013 SciEntsBank train answer (Beetle too with `--semeval`;
  `evals.select_support`), at the shipped reference-support setting.

The rule (`better`): no figure worse than the baseline by its tolerance or more, and at least one better
by its tolerance or more. Tolerances are the noise of each figure: a change smaller than one answer or group
for the team figures, 0.001 for a macro-F1, 0.005 for a Pearson or a mean score is noise. Figures are saved
rounded, so a change of exactly one tolerance counts, whatever its floating-point difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from evals import select_review, select_support
from evals.config import usable_cores
from evals.judge_data import DATASETS_DIR
from evals.workers import worker_pool
from rag.datafiles import SHIPPED_PROMPTS_DIR
from rag.grading.lexicon import LEXICON_FILE, load_lexicon

SHIPPED_LEXICON = SHIPPED_PROMPTS_DIR / LEXICON_FILE
"""The suites are always generated with the shipped lexicon: a variant lexicon with more antonyms would
otherwise also generate more (and other) swap answers, and its figures would be on other answers."""

HIGHER_IS_BETTER = {
    "team_qwk": 0.005,
    "team_misconception_recall": 0.02,
    "team_paraphrase_within_1": 0.04,
    "swap_recall": 0.005,
    "paraphrase_covered": 0.005,
    "scientsbank_macro_f1": 0.001,
    "saf_pearson": 0.005,
    "saf_mean_correct": 0.05,
    "beetle_macro_f1": 0.001,
}
LOWER_IS_BETTER = {
    "team_false_flags": 0.012,
    "generated_false_flags": 0.002,
    "hedge_score": 0.05,
    "keyword_score": 0.05,
}
"""Each figure's tolerance: a change smaller than this is noise (one team answer is about 1/75 of the good
answers, 1/45 of the misconception answers, 1/23 of the paraphrase groups)."""
FLOAT_SLACK = 1e-9
"""0.756 - 0.755 is 0.0010000000000000009 and 0.009 - 0.004 is 0.004999999999999999: each is one tolerance."""


def selection_figures(
    datasets_dir: Path,
    limit: int | None = None,
    semeval_sets: Sequence[str] = ("scientsbank",),
    workers: int = 1,
) -> dict[str, dict[str, float]]:
    """The configured grader's figures on the review selection data and on the support selection data; the
    answers are read by `workers` processes when more than one (the same figures, sooner)."""
    grader = select_review.review_grader()
    shipped_lexicon = load_lexicon(SHIPPED_LEXICON)
    planned = select_review.planned_cases(datasets_dir, suite_lexicon=shipped_lexicon)
    with worker_pool(select_review.review_grader, workers) as pool:
        review_cases = select_review.read_cases(grader, select_review.first_per_group(planned, limit), pool=pool)
        support_cases = select_support.selection_cases(grader, datasets_dir, limit, False, semeval_sets, pool=pool)
    return {
        "review": select_review.figures(grader, review_cases, grader.review_params),
        "support": select_support.figures(grader, support_cases, grader.support_params),
    }


def compare(baseline: dict[str, dict[str, float]], variant: dict[str, dict[str, float]]) -> tuple[bool, list[str]]:
    """Whether the variant is better by the rule, and one line per figure that moved beyond its tolerance."""
    lines: list[str] = []
    worse = better = False
    for part in sorted(set(baseline) | set(variant)):
        for name in sorted(set(baseline.get(part, {})) & set(variant.get(part, {}))):
            before, after = baseline[part][name], variant[part][name]
            if name in HIGHER_IS_BETTER:
                gain, tolerance = after - before, HIGHER_IS_BETTER[name]
            elif name in LOWER_IS_BETTER:
                gain, tolerance = before - after, LOWER_IS_BETTER[name]
            else:
                continue
            if abs(gain) >= tolerance - FLOAT_SLACK:
                worse, better = worse or gain < 0, better or gain > 0
                lines.append(f"{part}.{name}: {before} -> {after} ({'better' if gain > 0 else 'worse'})")
    return better and not worse, lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.selection_figures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR, help="shared datasets folder")
    parser.add_argument("--limit", type=int, metavar="N", help="first N answers per selection group (smoke run)")
    parser.add_argument("--semeval", nargs="+", choices=select_support.SEMEVAL_SETS, default=["scientsbank"],
                        help="SemEval-2013 train sets to read (Beetle's four references per answer cost most)")
    parser.add_argument("--out", type=Path, metavar="FILE.json", help="write the figures here (default: print)")
    parser.add_argument("--workers", type=int, default=usable_cores(), metavar="N",
                        help="processes that read the answers (default: one per usable core)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BASELINE.json", "VARIANT.json"),
                        help="apply the rule to two saved runs instead of grading")
    args = parser.parse_args(argv)
    if args.compare:
        runs = []
        for path in args.compare:
            try:
                runs.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as error:
                parser.error(f"cannot read {path}: {error}")
        chosen, lines = compare(*runs)
        print("\n".join(lines) or "no figure moved beyond its tolerance")
        print("variant is better by the rule" if chosen else "variant is not better by the rule")
        return 0 if chosen else 1
    found = selection_figures(args.datasets, args.limit, args.semeval, max(1, args.workers))
    text = json.dumps(found, indent=2, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
