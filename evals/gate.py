"""Gates: the thresholds in evals/thresholds.yaml applied to finished runs.

thresholds.yaml maps a set family to gates. `team` applies to runs of the team sets; any other family applies
to benchmark runs whose dataset name contains the family name (e.g. `scientsbank`). Inside a family, a mapping
under a grader name (`offline`, `llm`) adds or overrides gates for runs of that grader only. A gate whose
threshold is a mapping is applied per split. Gates are only applied for metrics present in the run.

A top-level `targets` key holds the same structure for goals that are reported but not enforced: a target
row says "met" or "unmet" and never fails `python -m evals gate`. A goal the grader does not reach yet is
stated there, while its enforced gate is a regression floor at the measured level.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.datafiles import load_yaml_mapping
from rag.errors import ConfigError, PrepError

THRESHOLDS_FILE = Path(__file__).resolve().parent / "thresholds.yaml"
GRADERS = ("offline", "llm")
TARGETS = "targets"

# gate name -> (metric path for a scalar threshold, metric path for a per-split threshold)
GATES: dict[str, tuple[str | None, str | None]] = {
    "qwk_min": ("accuracy.qwk", "splits.{split}.scores.qwk"),
    "mae_max": ("accuracy.mae", "splits.{split}.scores.mae"),
    "within_1_min": ("accuracy.within_1", "splits.{split}.scores.within_1"),
    "pearson_min": ("accuracy.pearson", "splits.{split}.scores.pearson"),
    "macro_f1_min": (None, "splits.{split}.macro_f1"),
    "accuracy_min": (None, "splits.{split}.accuracy"),
    "ranking_min": ("ranking.ranking", None),
    "paraphrase_within_1_min": ("paraphrase.within_1_share", None),
    "order_unchanged_min": ("order.unchanged_share", None),
    "attack_success_max": ("robustness.attack_success_rate", None),
    "padding_gain_max": ("robustness.padding_gain_mean", None),
    "empty_score_max": ("robustness.empty_score_mean", None),
    "unscored_rate_max": ("unscored_rate", None),
    "repeat_identical": ("consistency.identical_share", None),
    "score_flip_rate_max": ("consistency.score_flip_rate", None),
    "krippendorff_alpha_min": ("consistency.krippendorff_alpha", None),
    "answers_per_second_min": ("cost.answers_per_second", None),
    "part_qwk_min": (None, "parts.{split}.qwk"),
    "misconception_recall_min": (None, "parts.{split}.misconception_recall"),
    "false_flag_rate_max": (None, "parts.{split}.false_flag_rate"),
    "swap_contradiction_recall_min": ("swap.contradiction_recall", None),
    "paraphrase_covered_min": ("paraphrase.covered_share", None),
    "hedge_gain_max": ("hedge.gain", None),
    "keyword_list_score_max": ("keywords.score", None),
    "keyword_list_gain_max": ("keywords.appended_gain", None),
    "honest_injection_false_positives_max": ("honest_wording.injection_false_positives", None),
}


class GateError(PrepError):
    """thresholds.yaml or a run directory cannot be used."""


@dataclass(frozen=True)
class GateRow:
    run: str
    gate: str
    value: float | None
    threshold: Any
    passed: bool | None
    enforced: bool = True
    """False for a target: reported, never a failure."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> bool:
        return self.enforced and self.passed is False

    @property
    def status(self) -> str:
        if self.passed is None:
            return "n/a"
        if not self.enforced:
            return "target met" if self.passed else "target unmet"
        return "pass" if self.passed else "FAIL"


def _check_gates(path: Path, where: str, gates: dict[str, Any]) -> None:
    for name, threshold in gates.items():
        if name not in GATES:
            raise GateError(f"{path}: {where}: unknown gate '{name}' (known: {', '.join(sorted(GATES))})")
        scalar_path, split_path = GATES[name]
        if isinstance(threshold, dict):
            if split_path is None:
                raise GateError(f"{path}: {where}.{name}: this gate takes one number, not a mapping of splits")
            values = threshold.values()
        else:
            if scalar_path is None:
                raise GateError(f"{path}: {where}.{name}: this gate takes a mapping of split -> threshold")
            values = [threshold]
        for value in values:
            ok = isinstance(value, bool) if name == "repeat_identical" else (
                isinstance(value, int | float) and not isinstance(value, bool))
            if not ok:
                kind = "true or false" if name == "repeat_identical" else "a number"
                raise GateError(f"{path}: {where}.{name}: '{value}' must be {kind}")


def load_thresholds(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Read and check thresholds.yaml (unknown gates and wrong value types are errors)."""
    path = Path(path or THRESHOLDS_FILE)
    try:
        data = load_yaml_mapping(path, missing_hint="pass an existing file with --thresholds")
    except ConfigError as exc:
        raise GateError(str(exc)) from exc
    targets = data.get(TARGETS, {})
    if not isinstance(targets, dict):
        raise GateError(f"{path}: {TARGETS}: expected a mapping of set family -> targets")
    _check_families(path, targets, prefix=f"{TARGETS}.")
    _check_families(path, {k: v for k, v in data.items() if k != TARGETS})
    return data


def _check_families(path: Path, data: dict[str, Any], prefix: str = "") -> None:
    for family, gates in data.items():
        where = f"{prefix}{family}"
        if not isinstance(gates, dict):
            raise GateError(f"{path}: {where}: expected a mapping of gate -> threshold")
        _check_gates(path, where, {k: v for k, v in gates.items() if k not in GRADERS})
        for grader in GRADERS:
            if grader in gates:
                if not isinstance(gates[grader], dict):
                    raise GateError(f"{path}: {where}.{grader}: expected a mapping of gate -> threshold")
                _check_gates(path, f"{where}.{grader}", gates[grader])


def family_for(results: dict[str, Any], thresholds: dict[str, dict[str, Any]]) -> str | None:
    if results.get("kind") == "team":
        return "team" if "team" in thresholds else None
    name = Path(str(results.get("config", {}).get("dataset", ""))).stem.lower()
    return next(
        (family for family in thresholds if family not in ("team", TARGETS) and family.lower() in name), None
    )


def thresholds_for(results: dict[str, Any], thresholds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The gates that apply to this run: the family's, with the run's grader's additions on top."""
    family = family_for(results, thresholds)
    if family is None:
        return {}
    gates = thresholds[family]
    merged = {k: v for k, v in gates.items() if k not in GRADERS}
    merged.update(gates.get(results.get("config", {}).get("grader"), {}) or {})
    return merged


def _lookup(metrics: dict[str, Any], dotted: str) -> Any:
    value: Any = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _passes(name: str, value: float, threshold: Any) -> bool:
    if name == "repeat_identical":
        return (value >= 1.0) if threshold else True
    return value >= threshold if name.endswith("_min") else value <= threshold


def evaluate(results: dict[str, Any], thresholds: dict[str, dict[str, Any]], run: str = "") -> list[GateRow]:
    """One row per gate (per split for per-split gates), then one per target; absent metrics give passed=None."""
    rows = _evaluate(results, thresholds_for(results, thresholds), run, enforced=True)
    targets = thresholds.get(TARGETS) or {}
    return rows + _evaluate(results, thresholds_for(results, targets), run, enforced=False)


def _evaluate(results: dict[str, Any], gates: dict[str, Any], run: str, enforced: bool) -> list[GateRow]:
    rows = []
    metrics = results.get("metrics", {})
    for name, threshold in gates.items():
        scalar_path, split_path = GATES[name]
        if isinstance(threshold, dict):
            checks = [(f"{name}[{split}]", split_path.format(split=split), t) for split, t in threshold.items()]
        else:
            checks = [(name, scalar_path, threshold)]
        for label, dotted, limit in checks:
            value = _lookup(metrics, dotted)
            if not isinstance(value, int | float):
                rows.append(GateRow(run, label, None, limit, None, enforced))
            else:
                rows.append(GateRow(run, label, float(value), limit, _passes(name, float(value), limit), enforced))
    return rows


def load_results(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    path = run_dir / "results.json" if run_dir.is_dir() else run_dir
    if not path.is_file():
        hint = " (the run did not finish; resume it with --resume)" if (run_dir / "progress.jsonl").is_file() else ""
        raise GateError(f"{run_dir}: no results.json{hint}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GateError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def format_value(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def markdown_rows(rows: list[dict[str, Any]]) -> list[str]:
    """A Markdown table of gate rows as stored in results.json (`GateRow.as_dict`)."""
    table = ["| gate | value | threshold | result |", "|---|---|---|---|"]
    for row in map(lambda r: GateRow(**r), rows):
        table.append(f"| {row.gate} | {format_value(row.value)} | {format_value(row.threshold)} | {row.status} |")
    return table


def format_table(rows: list[GateRow]) -> str:
    """A plain-text table; the run column only when rows name their run."""
    with_run = any(r.run for r in rows)
    header = ("run", "gate", "value", "threshold", "result")[0 if with_run else 1 :]
    table = [header] + [
        (r.run, r.gate, format_value(r.value), format_value(r.threshold), r.status)[0 if with_run else 1 :]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def gate_runs(run_dirs: list[Path], thresholds_path: Path | None = None) -> tuple[list[GateRow], list[str]]:
    """Evaluate every run; returns the rows and warnings (runs no gate applies to)."""
    thresholds = load_thresholds(thresholds_path)
    rows, warnings = [], []
    for run_dir in run_dirs:
        results = load_results(run_dir)
        run_rows = evaluate(results, thresholds, run=str(run_dir))
        if not any(r.passed is not None and r.enforced for r in run_rows):
            warnings.append(f"warning: no gate in {thresholds_path or THRESHOLDS_FILE} applies to {run_dir}")
        rows.extend(run_rows)
    return rows, warnings
