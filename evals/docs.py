"""Write docs/evals.md from the latest runs: `python -m evals.docs` (run by `make evals` and `make bench`).

Reads evals/runs/ci-team, ci-scientsbank and ci-suites (make evals), evals/runs/judge-report.json
(python -m evals.judge_report), docs/benchmark-grading.json (python -m rag.bench),
docs/benchmark-app.json (the browser benchmark) and docs/benchmark-scientsbank.json (written from `make
bench`'s SciEntsBank run with --bench-run). A source that is missing is listed as not measured; no figure
is typed by hand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.gate import markdown_rows
from evals.suites import metrics_table
from rag.settings import PROJECT_ROOT

RUNS = PROJECT_ROOT / "evals" / "runs"
DOCS = PROJECT_ROOT / "docs"
OUT = DOCS / "evals.md"
THROUGHPUT_FILE = DOCS / "benchmark-scientsbank.json"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def team_section(results: dict[str, Any] | None) -> list[str]:
    if results is None:
        return ["## Team sets", "", "Not measured: run `make evals`.", ""]
    m = results["metrics"]
    lines = [
        "## Team sets",
        "",
        f"Run {results.get('finished_at', '?')} at commit {results.get('git_commit', '?')[:10]}, "
        f"{m['n_items']} answers. Gates report the **test** half of the frozen question split; the tuning "
        "half is where designs are chosen (evals/README.md).",
        "",
        "| part | answers | QWK | MAE | misconception recall | false flags on good answers |",
        "|---|---|---|---|---|---|",
    ]
    for part, row in (m.get("parts") or {}).items():
        lines.append(
            f"| {part} | {row['n']} | {_fmt(row['qwk'])} | {_fmt(row['mae'])} | "
            f"{_fmt(row['misconception_recall'])} ({row['misconception_n']}) | "
            f"{_fmt(row['false_flag_rate'])} ({row['good_n']}) |"
        )
    accuracy, robust = m.get("accuracy", {}), m.get("robustness", {})
    lines += [
        "",
        f"All answers: QWK {_fmt(accuracy.get('qwk'))}, Pearson {_fmt(accuracy.get('pearson'))}, "
        f"ranking {_fmt((m.get('ranking') or {}).get('ranking'))}, paraphrase groups within 1 point "
        f"{_fmt((m.get('paraphrase') or {}).get('within_1_share'))}, attack success "
        f"{_fmt(robust.get('attack_success_rate'))}, padding gain {_fmt(robust.get('padding_gain_mean'))}.",
        "",
        *markdown_rows(results.get("gates", [])),
        "",
    ]
    return lines


def scientsbank_section(results: dict[str, Any] | None) -> list[str]:
    if results is None:
        return ["## SciEntsBank 2-way", "", "Not measured: run `make evals`.", ""]
    m = results["metrics"]
    lines = [
        "## SciEntsBank 2-way (through the whole grader)",
        "",
        f"Decision threshold {m.get('threshold', {}).get('value')} ({m.get('threshold', {}).get('fitted_on')}); "
        f"{_fmt(m.get('cost', {}).get('answers_per_second'))} answers/s in this run.",
        "",
        "| split | answers | macro-F1 | accuracy |",
        "|---|---|---|---|",
    ]
    for split, row in m.get("splits", {}).items():
        lines.append(f"| {split} | {row.get('n', '–')} | {_fmt(row.get('macro_f1'))} | {_fmt(row.get('accuracy'))} |")
    return [*lines, "", *markdown_rows(results.get("gates", [])), ""]


def suites_section(results: dict[str, Any] | None) -> list[str]:
    if results is None:
        return ["## Generated suites", "", "Not measured: run `make evals`.", ""]
    gates = markdown_rows(results.get("gates", []))
    return ["## Generated suites (bank test questions)", "", *metrics_table(results["metrics"]), "", *gates, ""]


def judge_section(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return ["## The judge alone", "", "Not measured: run `python -m evals.judge_report`.", ""]
    lines = [
        "## The judge alone (public test splits it never saw)",
        "",
        f"Judge weights {report.get('judge')}.",
        "",
        "| set | n | 3-way macro-F1 | 3-way accuracy | 2-way macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for name, row in report["sets"].items():
        lines.append(
            f"| {name} | {row['n']} | {_fmt(row['macro_f1_3way'])} | {_fmt(row['accuracy_3way'])} | "
            f"{_fmt(row['macro_f1_2way'])} |"
        )
    return [*lines, ""]


def bench_throughput(run: Path) -> dict[str, Any]:
    """The speed figures of `make bench`'s SciEntsBank run, kept in docs/ because run folders are not committed."""
    results = _load(run / "results.json")
    if results is None:
        raise SystemExit(f"error: {run / 'results.json'} not found; run `make bench` (it writes that run)")
    cost = results.get("metrics", {}).get("cost", {})
    return {
        "date": str(results.get("finished_at", ""))[:10],
        "answers": cost.get("gradings_this_session"),
        "seconds": cost.get("seconds"),
        "answers_per_second": round(cost.get("answers_per_second") or 0.0, 2),
    }


def performance_section(
    grading: dict[str, Any] | None, app: dict[str, Any] | None, throughput: dict[str, Any] | None = None
) -> list[str]:
    lines = [
        "## Performance (`make bench`, 2 cores)",
        "",
        "Grading and retrieval rows come from docs/benchmark-grading.json, app rows from docs/benchmark-app.json,",
        "SciEntsBank rows (the whole benchmark, offline grader, after warm-up) from",
        "docs/benchmark-scientsbank.json, each as the last `make bench` wrote it.",
        "",
    ]
    if grading is None and app is None and throughput is None:
        return [*lines, "Not measured: run `make bench`.", ""]
    lines += ["| figure | value |", "|---|---|"]
    for key in ("answers", "answers_per_second"):
        if throughput and throughput.get(key) is not None:
            lines.append(f"| scientsbank: {key} | {_fmt(throughput[key])} |")
    for key, value in ((grading or {}).get("grading") or {}).items():
        lines.append(f"| grading: {key} | {_fmt(value)} |")
    for key, value in ((grading or {}).get("retrieval") or {}).items():
        lines.append(f"| retrieval: {key} | {_fmt(value)} |")
    for key, value in (app or {}).items():
        if not isinstance(value, list):
            lines.append(f"| app: {key} | {_fmt(value)} |")
    if grading and grading.get("date"):
        lines.append(f"| measured on | {grading['date']} |")
    return [*lines, ""]


def concurrency_section(history: dict[str, Any] | None) -> list[str]:
    """Concurrent simulated candidates on one process (docs/benchmark-history.json, `python -m rag.bench
    --history-only`): storage alone, and graded as the app grades."""
    lines = ["## Concurrent candidates on one process (`make bench`)", ""]
    found = (history or {}).get("history")
    if not found:
        return [*lines, "Not measured: run `python -m rag.bench --history-only`.", ""]
    lines += [
        f"{found.get('what', '')}. Graded runs: {found.get('what_graded', 'not measured')}. "
        f"{found.get('cpu_count')} cores; measured on {history.get('date')}.",
        "",
        "| backend | run | candidates | turns/s | turn p50 ms | turn p95 ms | write p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend in ("sqlite", "postgresql"):
        for run, key in (("store only", backend), ("graded", f"{backend}_graded")):
            for row in found.get(key) or []:
                lines.append(
                    f"| {backend} | {run} | {row['candidates']} | {_fmt(row['turns_per_s'])} | "
                    f"{_fmt(row['turn_p50_ms'])} | {_fmt(row['turn_p95_ms'])} | {_fmt(row['write_p95_ms'])} |"
                )
    return [*lines, ""]


def render() -> str:
    lines = [
        "# Measured figures",
        "",
        "Generated by `python -m evals.docs` from the latest runs; do not edit by hand. How the figures are",
        "chosen and reported: evals/README.md.",
        "",
    ]
    lines += team_section(_load(RUNS / "ci-team" / "results.json"))
    lines += scientsbank_section(_load(RUNS / "ci-scientsbank" / "results.json"))
    lines += suites_section(_load(RUNS / "ci-suites" / "results.json"))
    lines += judge_section(_load(RUNS / "judge-report.json"))
    lines += performance_section(
        _load(DOCS / "benchmark-grading.json"), _load(DOCS / "benchmark-app.json"), _load(THROUGHPUT_FILE)
    )
    lines += concurrency_section(_load(DOCS / "benchmark-history.json"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="default: %(default)s")
    parser.add_argument(
        "--bench-run",
        type=Path,
        metavar="DIR",
        help=f"first keep the speed figures of this SciEntsBank run in {THROUGHPUT_FILE.name} (`make bench` does)",
    )
    args = parser.parse_args(argv)
    if args.bench_run is not None:
        THROUGHPUT_FILE.write_text(json.dumps(bench_throughput(args.bench_run), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {THROUGHPUT_FILE}")
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
