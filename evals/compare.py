"""Compare two runs: what changed in the configuration, per metric, and per item that moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.gate import load_results
from evals.metrics import first_score
from evals.report_content import fmt, gate_label, short
from evals.report_markdown import md_section, md_table

SKIPPED_KEYS = {"bands", "spreads", "confusion", "per_topic", "by_kind", "resumed", "fitted_on", "usage_note"}
LOWER_IS_BETTER = {
    "mae", "mean_sd", "max_sd", "score_flip_rate", "band_flip_rate", "mean_spread", "max_spread",
    "mean_abs_change", "max_abs_change", "attack_success_rate", "padding_gain_mean", "padding_gain_max",
    "empty_score_mean", "empty_score_max", "unscored_rate", "seconds", "tokens_per_answer", "cost_per_answer_usd",
}
NEUTRAL = {
    "n", "n_items", "n_gradings", "pairs", "concordant", "ties", "groups", "attack_n", "padding_n", "empty_n",
    "repeats", "items", "gradings_this_session", "share_correct", "questions", "value", "fit_macro_f1",
    "always_incorrect_macro_f1",
}


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float | int]:
    """Numeric leaves of the metrics tree as dotted names (charts-only data left out)."""
    flat: dict[str, float | int] = {}
    for key, value in metrics.items():
        if key in SKIPPED_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = value
        elif value is None:
            flat[name] = float("nan")
    return flat


def direction(name: str, old: float, new: float) -> str:
    leaf = name.rsplit(".", 1)[-1]
    if old != old or new != new:
        return "" if old != old and new != new else "appeared" if old != old else "gone"
    if abs(new - old) < 1e-12:
        return ""
    if leaf in NEUTRAL:
        return "changed"
    better = new < old if leaf in LOWER_IS_BETTER else new > old
    return "better" if better else "worse"


def metric_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    a, b = flatten(old["metrics"]), flatten(new["metrics"])
    names = list(dict.fromkeys([*a, *b]))
    nan = float("nan")
    return [(name, a.get(name, nan), b.get(name, nan), direction(name, a.get(name, nan), b.get(name, nan)))
            for name in names]


def _delta(a: float, b: float) -> str:
    if a != a or b != b:
        return ""
    return f"{b - a:+d}" if isinstance(a, int) and isinstance(b, int) else f"{b - a:+.3f}"


def item_moves(old: dict[str, Any], new: dict[str, Any], min_delta: float = 0.0) -> dict[str, Any]:
    old_items = {item["id"]: item for item in old["items"]}
    new_items = {item["id"]: item for item in new["items"]}
    moved, status_changed, same = [], [], 0
    for item_id, item in new_items.items():
        before = old_items.get(item_id)
        if before is None:
            continue
        a, b = first_score(before), first_score(item)
        if (a is None) != (b is None):
            status_changed.append((item, a, b))
        elif a is not None and b is not None and abs(b - a) > min_delta + 1e-9:
            moved.append((item, a, b))
        else:
            same += 1
    moved.sort(key=lambda row: (-abs(row[2] - row[1]), row[0]["id"]))
    return {
        "moved": moved,
        "status_changed": status_changed,
        "unchanged": same,
        "only_old": sorted(old_items.keys() - new_items.keys()),
        "only_new": sorted(new_items.keys() - old_items.keys()),
    }


def _config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key in ("grader", "model", "repeats", "sets", "dataset", "splits", "limit", "threshold", "granularity",
                "passages"):
        a, b = old["config"].get(key), new["config"].get(key)
        if a != b:
            rows.append([f"config: {key}", str(a), str(b)])
    fa, fb = old.get("versions", {}).get("fingerprints", {}), new.get("versions", {}).get("fingerprints", {})
    rows += [[f"files: {k}", fa.get(k, "-"), fb.get(k, "-")] for k in sorted({*fa, *fb}) if fa.get(k) != fb.get(k)]
    pa, pb = old.get("versions", {}).get("packages", {}), new.get("versions", {}).get("packages", {})
    rows += [[f"package: {k}", str(pa.get(k)), str(pb.get(k))] for k in sorted({*pa, *pb}) if pa.get(k) != pb.get(k)]
    if old.get("git_commit") != new.get("git_commit"):
        rows.append(["git commit", str(old.get("git_commit"))[:12], str(new.get("git_commit"))[:12]])
    return rows


def render_comparison(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str,
                      min_delta: float = 0.0, limit: int = 25) -> str:
    lines = [f"## Eval comparison: `{old_name}` → `{new_name}`", ""]
    if old.get("kind") != new.get("kind"):
        lines += [f"Note: comparing a {old.get('kind')} run with a {new.get('kind')} run.", ""]
    config_rows = _config_changes(old, new)
    if config_rows:
        lines += md_section("What differs between the runs", ["", "old", "new"], config_rows)
    changes = metric_changes(old, new)
    better = sum(c[3] == "better" for c in changes)
    worse = sum(c[3] == "worse" for c in changes)
    mark = {"better": "▲ better", "worse": "▼ worse"}
    lines += md_section(
        f"Metrics: {better} better, {worse} worse",
        ["metric", "old", "new", "change", ""],
        [[name, fmt(a), fmt(b), _delta(a, b), mark.get(d, d)]
         for name, a, b, d in changes if d or name.split(".")[0] in ("accuracy", "splits", "ranking")],
    )
    old_gates = {gate_label(g): g for g in old.get("gates", [])}
    gate_rows = []
    for g in new.get("gates", []):
        before = old_gates.get(gate_label(g), {}).get("passed")
        if before != g["passed"]:
            gate_rows.append([gate_label(g), {True: "pass", False: "FAIL", None: "n/a"}[before],
                              {True: "pass", False: "FAIL", None: "n/a"}[g["passed"]]])
    if gate_rows:
        lines += md_section("Gates that changed", ["gate", "old", "new"], gate_rows)
    moves = item_moves(old, new, min_delta)
    moved = moves["moved"]
    up = sum(b > a for _, a, b in moved)
    lines += [f"### Items that moved: {len(moved)} ({up} up, {len(moved) - up} down), "
              f"{moves['unchanged']} unchanged", ""]
    if moved:
        lines += md_table(
            ["id", "gold", "old", "new", "Δ", "old error → new error", "answer"],
            [[item["id"], fmt(item.get("gold"), 1), fmt(a, 1), fmt(b, 1), f"{b - a:+.1f}",
              "" if item.get("gold") is None else f"{abs(a - item['gold']):.1f} → {abs(b - item['gold']):.1f}",
              short(item.get("answer", ""), 50)] for item, a, b in moved[:limit]],
        )
        if len(moved) > limit:
            lines.append(f"\n… and {len(moved) - limit} more (use --limit).")
        lines.append("")
    if moves["status_changed"]:
        lines += md_section("Scored ↔ unscored", ["id", "old", "new"],
                            [[i["id"], fmt(a, 1), fmt(b, 1)] for i, a, b in moves["status_changed"][:limit]])
    if moves["only_old"] or moves["only_new"]:
        lines.append(f"Items only in the old run: {len(moves['only_old'])}; only in the new run: "
                     f"{len(moves['only_new'])}.")
    return "\n".join(lines).rstrip() + "\n"


def compare_runs(old_dir: Path, new_dir: Path, min_delta: float = 0.0, limit: int = 25) -> str:
    return render_comparison(load_results(old_dir), load_results(new_dir), str(old_dir), str(new_dir),
                             min_delta, limit)
