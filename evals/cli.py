"""`python -m evals`: run eval sets, run benchmarks, compare runs, apply gates.

Bad input (missing file, malformed CSV or set, unknown set) prints one error line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from rag.errors import PrepError
from rag.grading.files import PromptFiles
from rag.settings import Settings, get_settings

if TYPE_CHECKING:
    from evals.config import RunConfig

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_SEED = 13

AnyConfig = TypeVar("AnyConfig", bound="RunConfig")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _common_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grader", choices=("offline", "llm"), default="offline",
                        help="which grader to evaluate (default: offline)")
    parser.add_argument("--repeats", type=_positive_int, metavar="K",
                        help="grade every answer K times for consistency (default: see above); "
                             "repeats never read the response cache")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run directory (default: evals/runs/<timestamp>-<grader>...)")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="finish an interrupted run in DIR with its saved configuration, skipping what is done")
    parser.add_argument("--concurrency", type=_positive_int, metavar="N",
                        help="parallel gradings: threads for the LLM grader (default 4), worker processes for "
                             "the offline grader (default: one per usable core)")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the LLM response cache (evals/.cache/responses.sqlite)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed for shuffling reference passages (default: {DEFAULT_SEED})")
    parser.add_argument("--thresholds", type=Path, metavar="FILE",
                        help="gates shown in the reports (default: evals/thresholds.yaml)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m evals", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser(
        "run", help="grade the team-written eval sets",
        description="Grade the team eval sets (evals/sets/team-*) and write results.json, report.md and "
                    "report.html. Repeats default to 2 for the offline grader (proves bit-identical repeats) "
                    "and 5 for the LLM grader.")
    run.add_argument("sets", nargs="*", metavar="SET",
                     help="set names in evals/sets (e.g. team-storage, globs like 'team-*') or paths to "
                          ".jsonl/.yaml files (default: every team-* set)")
    _common_run_options(run)
    run.add_argument("--passages", choices=("store", "none"), default="store",
                     help="reference passages: retrieved from the Chroma index (default) or none")
    run.add_argument("--no-order-check", action="store_true",
                     help="skip regrading with shuffled reference passages (order invariance)")
    run.add_argument("--questions", type=Path, metavar="FILE",
                     help="question bank (default: the settings' questions_file)")
    run.add_argument("--sets-dir", type=Path, metavar="DIR", help="where set names are looked up (default: evals/sets)")

    bench = commands.add_parser(
        "benchmark", help="grade an external short-answer-grading CSV",
        description="Grade a CSV with columns question, reference_answer, answer (or student_answer) and "
                    "score + max_score or label (correct/incorrect), optionally split. For labels, the "
                    "threshold t of 'correct iff score >= t' is fitted on the train split only. "
                    "Repeats default to 1.")
    bench.add_argument("file", type=Path, metavar="FILE.csv", help="the benchmark CSV")
    _common_run_options(bench)
    bench.add_argument("--splits", nargs="+", metavar="SPLIT",
                       help="grade only these splits (keep 'train' to fit the threshold)")
    bench.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N rows of each split")
    bench.add_argument("--threshold", type=float, metavar="T",
                       help="use this decision threshold instead of fitting one on the train split")
    bench.add_argument("--granularity", choices=("sentence", "clause", "whole"),
                       help="how reference answers become key points (default: as the offline grader was fitted, "
                            "else sentence)")
    bench.add_argument("--order-check", action="store_true",
                       help="also regrade with the reference answers shuffled (rows with several references)")

    suites = commands.add_parser(
        "suites", help="grade answers generated by rules from the bank's test questions",
        description="Swap, paraphrase, hedge and keyword-list answers generated from the key points of the bank's "
                    "test questions (evals/question_split.yaml), plus honest answers that look like instructions. "
                    "Writes results.json and report.md; gates under 'suites' in evals/thresholds.yaml.")
    suites.add_argument("--grader", choices=("offline", "llm"), default="offline",
                        help="which grader to evaluate (default: offline)")
    suites.add_argument("--out", type=Path, metavar="DIR", help="run directory (default: evals/runs/<timestamp>-...)")
    suites.add_argument("--thresholds", type=Path, metavar="FILE", help="default: evals/thresholds.yaml")
    suites.add_argument("--no-progress", action="store_true", help="no progress bar")

    compare = commands.add_parser(
        "compare", help="what changed between two runs",
        description="Compare two runs: configuration, every metric (better/worse), gates, and each item that moved.")
    compare.add_argument("old", type=Path, metavar="OLD", help="the baseline run directory (or its results.json)")
    compare.add_argument("new", type=Path, metavar="NEW", help="the new run directory (or its results.json)")
    compare.add_argument("--min-delta", type=float, default=0.0, metavar="POINTS",
                         help="list items whose score moved by more than this (default: 0, any change)")
    compare.add_argument("--limit", type=_positive_int, default=25, metavar="N", help="items listed (default: 25)")
    compare.add_argument("--out", type=Path, metavar="FILE", help="also write the comparison (Markdown) here")

    gate = commands.add_parser(
        "gate", help="fail when runs fall below evals/thresholds.yaml",
        description="Apply the gates in evals/thresholds.yaml to finished runs: prints gate / value / threshold / "
                    "result and exits 1 when any gate fails (2 on usage errors). Gates apply only to metrics "
                    "present in a run.")
    gate.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="finished run directories")
    gate.add_argument("--thresholds", type=Path, metavar="FILE", help="default: evals/thresholds.yaml")
    return parser


# ---------------------------------------------------------------- commands


def _settings(args: argparse.Namespace) -> Settings:
    settings = get_settings()
    questions = getattr(args, "questions", None)
    return settings.model_copy(update={"questions_file": questions.resolve()}) if questions else settings


def _resume_config(args: argparse.Namespace, config_type: type[AnyConfig]) -> AnyConfig | None:
    """The saved configuration of the run in `--resume`, which must be a `config_type`; `--concurrency` overrides
    the saved one."""
    from evals.config import read_config

    if args.resume is None:
        return None
    config = read_config(args.resume)
    if not isinstance(config, config_type):
        raise PrepError(f"{args.resume}: holds a {config.kind} run; resume it with the matching command")
    return config.model_copy(update={"concurrency": args.concurrency}) if args.concurrency else config


def _cache(config: RunConfig) -> Any:
    if config.grader != "llm" or not config.cache:
        return None
    from evals.cache import ResponseCache

    return ResponseCache()


def _store_passages(settings: Settings) -> Callable[[Any], list[Any]]:
    from rag.grading.service import retrieve_passages
    from rag.store import VectorStore

    store = VectorStore(settings)
    if store.count() == 0:
        raise PrepError(
            "the Chroma index is empty, so there are no reference passages; build it with `make index` "
            "(python -m rag ingest) or run with --passages none"
        )
    return lambda question: retrieve_passages(question, store, settings.retrieval_k)


def _print_outcome(results: dict[str, Any], run_dir: Path) -> None:
    from evals.gate import GateRow, format_table

    print(f"wrote {run_dir}/results.json, report.md, report.html")
    rows = [GateRow(**g) for g in results.get("gates", [])]
    if rows:
        print(format_table(rows))
    failed = sum(r.failed for r in rows)
    print(f"{failed} gate(s) below threshold; `python -m evals gate {run_dir}` exits non-zero" if failed
          else "all gates that apply pass" if rows else "no gates apply to this run")


def cmd_run(args: argparse.Namespace, make_grader: Callable[[str, Settings], Any] | None = None) -> int:
    from evals.config import TEAM_DEFAULT_REPEATS, TeamRunConfig, default_concurrency
    from evals.rundir import default_run_dir
    from evals.runner import execute_run, team_plan
    from evals.sets import SETS_DIR, load_sets, resolve_set_paths
    from rag.grading.service import make_grader as rag_make_grader
    from rag.questions import load_question_bank

    settings = _settings(args)
    config = _resume_config(args, TeamRunConfig)
    if config is None:
        paths = resolve_set_paths(args.sets, args.sets_dir or SETS_DIR)
        config = TeamRunConfig(
            grader=args.grader,
            repeats=args.repeats or TEAM_DEFAULT_REPEATS[args.grader],
            sets=[str(p.resolve()) for p in paths],
            questions_file=Path(settings.questions_file).resolve(),
            passages=args.passages,
            order_check=not args.no_order_check and args.passages != "none",
            seed=args.seed,
            concurrency=args.concurrency or default_concurrency(args.grader),
            cache=not args.no_cache and args.grader == "llm",
        )
    bank = load_question_bank(config.questions_file)
    load_sets(config.sets, [q.id for q in bank.questions])
    grader = (make_grader or rag_make_grader)(config.grader, settings)
    run_dir = args.resume or args.out or default_run_dir(config.grader)
    passages_for = _store_passages(settings) if config.passages == "store" else (lambda question: [])
    try:
        results = execute_run(
            run_dir, team_plan(config, passages_for, PromptFiles.from_settings(settings).rubric()), grader, settings,
            resume=args.resume is not None,
            cache=_cache(config), show_progress=not args.no_progress, thresholds_path=args.thresholds,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; finish with: python -m evals run --resume {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_outcome(results, run_dir)
    return EXIT_OK


def cmd_benchmark(args: argparse.Namespace, make_grader: Callable[[str, Settings], Any] | None = None) -> int:
    from evals.benchmark import default_granularity, read_benchmark
    from evals.config import BENCHMARK_DEFAULT_REPEATS, BenchmarkRunConfig, default_concurrency
    from evals.rundir import default_run_dir
    from evals.runner import benchmark_plan, execute_run
    from rag.grading.service import make_grader as rag_make_grader

    settings = _settings(args)
    config = _resume_config(args, BenchmarkRunConfig)
    if config is None:
        read_benchmark(args.file, args.splits, args.limit)
        config = BenchmarkRunConfig(
            grader=args.grader,
            repeats=args.repeats or BENCHMARK_DEFAULT_REPEATS,
            dataset=args.file.resolve(),
            splits=args.splits,
            limit=args.limit,
            threshold=args.threshold,
            granularity=args.granularity or default_granularity(),
            order_check=args.order_check,
            seed=args.seed,
            concurrency=args.concurrency or default_concurrency(args.grader),
            cache=not args.no_cache and args.grader == "llm",
        )
    grader = (make_grader or rag_make_grader)(config.grader, settings)
    run_dir = args.resume or args.out or default_run_dir(config.grader, config.dataset.stem)
    try:
        results = execute_run(
            run_dir, benchmark_plan(config), grader, settings, resume=args.resume is not None, cache=_cache(config),
            show_progress=not args.no_progress, thresholds_path=args.thresholds,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; finish with: python -m evals benchmark {config.dataset} --resume {run_dir}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_outcome(results, run_dir)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from evals.compare import compare_runs

    text = compare_runs(args.old, args.new, args.min_delta, args.limit)
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    from evals.gate import format_table, gate_runs

    rows, warnings = gate_runs(args.runs, args.thresholds)
    if rows:
        print(format_table(rows))
    for warning in warnings:
        print(warning, file=sys.stderr)
    failed = [r for r in rows if r.failed]
    applied = sum(r.passed is not None and r.enforced for r in rows)
    unmet = sum(r.passed is False and not r.enforced for r in rows)
    print(f"{len(failed)} of {applied} gate(s) failed" if failed else f"all {applied} gate(s) pass", end="")
    print(f"; {unmet} target(s) not met yet (reported, not enforced)" if unmet else "")
    return EXIT_GATE_FAILED if failed else EXIT_OK


def cmd_suites(args: argparse.Namespace, make_grader: Callable[[str, Settings], Any] | None = None) -> int:
    import json
    from datetime import UTC, datetime

    from tqdm import tqdm

    from evals import gate
    from evals.rundir import default_run_dir, git_commit
    from evals.suites import render_markdown, run_suites
    from rag.grading.service import make_grader as rag_make_grader
    from rag.questions import load_question_bank

    settings = _settings(args)
    bank = load_question_bank(Path(settings.questions_file))
    grader = (make_grader or rag_make_grader)(args.grader, settings)
    run_dir = args.out or default_run_dir(args.grader, "suites")
    run_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(desc="generated suites", unit="answer", disable=args.no_progress, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    metrics, items = run_suites(bank.questions, grader, settings, progress)
    bar.close()
    results: dict[str, Any] = {
        "kind": "suites",
        "config": {"grader": args.grader, "dataset": "judge-suites", "model": grader.model},
        "git_commit": git_commit(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": metrics,
        "items": items,
    }
    thresholds = gate.load_thresholds(args.thresholds)
    results["gates"] = [row.as_dict() for row in gate.evaluate(results, thresholds)]
    (run_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (run_dir / "report.md").write_text(render_markdown(results), encoding="utf-8")
    print(render_markdown(results))
    print(f"wrote {run_dir / 'results.json'} and report.md")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "suites": cmd_suites, "benchmark": cmd_benchmark, "compare": cmd_compare, "gate": cmd_gate}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
