"""The judge alone on public test data it never saw: `python -m evals.judge_report [--out FILE]`.

- SemEval-2013 SciEntsBank and Beetle test splits: the answer against its closest reference, 3-way
  macro-F1 (entails = correct, contradicts = contradictory, neither = incorrect) and 2-way macro-F1
  (correct iff the judge's most probable label is entails);
- CAD-SNLI test and Breaking NLI (test only): 3-way macro-F1 and accuracy.
Writes a JSON summary (default evals/runs/judge-report.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from tqdm import tqdm

from evals.judge_data import DATASETS_DIR, Pair, breaking_pairs, cad_pairs, semeval_pairs
from rag.grading.judge import ENTAILS, Judge, get_judge

SEMEVAL_TESTS = ("test-unseen-answers", "test-unseen-questions", "test-unseen-domains")
DEFAULT_OUT = Path(__file__).resolve().parent / "runs" / "judge-report.json"


def judged(judge: Judge, pairs: Sequence[Pair], desc: str, batch: int = 256) -> np.ndarray:
    rows = []
    for start in tqdm(range(0, len(pairs), batch), desc=desc, file=sys.stderr, unit="batch"):
        chunk = pairs[start : start + batch]
        rows.append(judge.probabilities([(p.question, p.claim, p.span) for p in chunk]))
    return np.concatenate(rows) if rows else np.zeros((0, 3))


def scores(pairs: Sequence[Pair], probabilities: np.ndarray) -> dict[str, float]:
    gold = np.asarray([p.label for p in pairs])
    predicted = probabilities.argmax(axis=1)
    return {
        "n": len(pairs),
        "macro_f1_3way": round(float(f1_score(gold, predicted, average="macro", labels=[0, 1, 2])), 4),
        "accuracy_3way": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1_2way": round(float(f1_score(gold == ENTAILS, predicted == ENTAILS, average="macro")), 4),
    }


def build_report(judge: Judge, datasets_dir: Path = DATASETS_DIR) -> dict[str, dict[str, float]]:
    report: dict[str, dict[str, float]] = {}
    for split in SEMEVAL_TESTS:
        pairs = semeval_pairs((split,), datasets_dir)
        for source in sorted({p.source for p in pairs}):
            mine = [p for p in pairs if p.source == source]
            report[f"{source.removeprefix('semeval-')} {split}"] = scores(
                mine, judged(judge, mine, f"{source} {split}")
            )
    for name, pairs in (
        ("cad-snli test", cad_pairs("test", datasets_dir)),
        ("breaking-nli", breaking_pairs(datasets_dir)),
    ):
        report[name] = scores(pairs, judged(judge, pairs, name))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.judge_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR, help="shared datasets folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON summary (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.datasets.is_dir():
        print(f"error: {args.datasets} is not a folder; pass --datasets", file=sys.stderr)
        return 2
    judge = get_judge()
    report = build_report(judge, args.datasets)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"judge": judge.version, "sets": report}, indent=2) + "\n", encoding="utf-8")
    print("| set | n | 3-way macro-F1 | 3-way accuracy | 2-way macro-F1 |\n|---|---|---|---|---|")
    for name, row in report.items():
        print(f"| {name} | {row['n']} | {row['macro_f1_3way']} | {row['accuracy_3way']} | {row['macro_f1_2way']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
