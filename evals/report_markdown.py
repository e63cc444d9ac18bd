"""`report.md`: a run's report as markdown, short enough for a pull-request comment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evals.metrics import DEFINITIONS
from evals.report_content import (
    ATTACK_HEADER,
    ERROR_HEADER,
    GROUP_HEADER,
    MAX_LISTED,
    MISS_HEADER,
    attack_rows,
    definition_keys,
    error_rows,
    fmt,
    gate_label,
    gate_status,
    group_rows,
    headline,
    label_misses,
    largest_errors,
    metric_sections,
    miss_rows,
    split_table,
    successful_attacks,
)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(value: str) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def md_section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [f"### {title}", "", *md_table(header, rows), ""]


MD_STATUS = {
    (True, True): "✅ pass", (True, False): "❌ FAIL", (False, True): "🎯 target met",
    (False, False): "⚠️ target not met (not enforced)",
}


def render_markdown(results: dict[str, Any]) -> str:
    title, facts = headline(results)
    lines = [f"## {title}", "", " · ".join(facts), ""]
    gates = results.get("gates", [])
    if gates:
        failed = [g for g in gates if g["passed"] is False and g.get("enforced", True)]
        unmet = [g for g in gates if g["passed"] is False and not g.get("enforced", True)]
        verdict = f"❌ {len(failed)} gate(s) failed" if failed else "✅ all gates pass"
        if unmet:
            verdict += f", {len(unmet)} target(s) not met yet"
        lines += [f"### Gates: {verdict}", ""]
        lines += md_table(["gate", "value", "threshold", "result"], [
            [gate_label(g), fmt(g["value"]), fmt(g["threshold"]), gate_status(g, MD_STATUS)] for g in gates
        ])
        lines.append("")
    if results["kind"] == "benchmark":
        lines += md_section("Per split", *split_table(results))
    used: list[str] = []
    for section, rows in metric_sections(results):
        lines += md_section(section, ["metric", "value"], [(a, b) for a, b, _ in rows])
        used += [key for _, _, key in rows if key]
    if results["kind"] == "team":
        lines += md_section("By kind of answer", GROUP_HEADER, group_rows(results["metrics"]["by_kind"]))
        attacks = successful_attacks(results)
        if attacks:
            lines += md_section(f"Attacks that worked ({len(attacks)})", ATTACK_HEADER,
                                attack_rows(attacks[:MAX_LISTED], 70))
    errors = largest_errors(results)
    if errors:
        lines += md_section("Largest errors", ERROR_HEADER, error_rows(errors, 60))
    misses = label_misses(results)
    if misses:
        lines += md_section("Misclassified at t, furthest from t (outside train)", MISS_HEADER, miss_rows(misses, 60))
    keys = definition_keys(results, used)
    lines += ["<details><summary>Definitions</summary>", ""]
    lines += [f"- **{key}**: {DEFINITIONS[key]}" for key in keys]
    lines += ["", "</details>", ""]
    return "\n".join(lines)
