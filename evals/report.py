"""Reports for a finished run: `report.md` (evals.report_markdown, short enough for a pull-request comment) and a
self-contained `report.html` with inline SVG charts (evals.report_charts; no scripts, fonts or styles fetched from
anywhere), rendered here. The content both show comes from evals.report_content."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.metrics import DEFINITIONS
from evals.report_charts import charts
from evals.report_content import (
    ATTACK_HEADER,
    ERROR_HEADER,
    GROUP_HEADER,
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
from evals.report_markdown import render_markdown

HTML_STATUS = {
    (True, True): '<span class="pass">pass</span>', (True, False): '<span class="fail">FAIL</span>',
    (False, True): '<span class="pass">target met</span>',
    (False, False): '<span class="na">target not met (not enforced)</span>',
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.4}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}.pass{color:#2e7d32;font-weight:bold}
.fail{color:#c62828;font-weight:bold}.na{color:#777}.facts{color:#555}.charts{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0}figcaption{font-weight:bold;margin-bottom:4px}dt{font-weight:bold;margin-top:6px}
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    def cell(value: str) -> str:
        return str(value) if raw else html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(results: dict[str, Any]) -> str:
    title, facts = headline(results)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="facts">{html.escape(" · ".join(f.replace("`", "") for f in facts))}</p>']
    gates = results.get("gates", [])
    if gates:
        parts.append("<h2>Gates</h2>" + _html_table(
            ["gate", "value", "threshold", "result"],
            [[html.escape(gate_label(g)), fmt(g["value"]), html.escape(fmt(g["threshold"])),
              gate_status(g, HTML_STATUS)] for g in gates], raw=True))
    parts.append('<h2>Charts</h2><div class="charts">' + "".join(
        f"<figure><figcaption>{html.escape(name)}</figcaption>{svg}</figure>" for name, svg in charts(results)
    ) + "</div>")
    if results["kind"] == "benchmark":
        parts.append("<h2>Per split</h2>" + _html_table(*split_table(results)))
    used: list[str] = []
    for section, rows in metric_sections(results):
        table = _html_table(["metric", "value"], [(a, b) for a, b, _ in rows])
        parts.append(f"<h2>{html.escape(section)}</h2>{table}")
        used += [key for _, _, key in rows if key]
    m = results["metrics"]
    if results["kind"] == "team":
        parts.append("<h2>Per topic</h2>" + _html_table(GROUP_HEADER, group_rows(m["per_topic"])))
        parts.append("<h2>By kind of answer</h2>" + _html_table(GROUP_HEADER, group_rows(m["by_kind"])))
        attacks = successful_attacks(results)
        if attacks:
            parts.append(f"<h2>Attacks that worked ({len(attacks)})</h2>"
                         + _html_table(ATTACK_HEADER, attack_rows(attacks, 200)))
    errors = largest_errors(results, limit=25)
    if errors:
        parts.append("<h2>Largest errors</h2>" + _html_table(ERROR_HEADER, error_rows(errors, 200)))
    misses = label_misses(results, limit=25)
    if misses:
        parts.append("<h2>Misclassified at t, furthest from t (outside train)</h2>"
                     + _html_table(MISS_HEADER, miss_rows(misses, 200)))
    keys = definition_keys(results, used)
    parts.append("<h2>Definitions</h2><dl>" + "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(DEFINITIONS[k])}</dd>" for k in keys
    ) + "</dl>")
    config = results["config"]
    meta = [["git commit", results.get("git_commit", "unknown")], ["python", results["versions"]["python"]]]
    meta += [[name, str(version)] for name, version in results["versions"]["packages"].items()]
    meta += [[f"fingerprint: {k}", v] for k, v in results["versions"]["fingerprints"].items()]
    meta += [[f"config: {k}", str(v)] for k, v in config.items() if k != "thresholds"]
    parts.append("<h2>Run</h2>" + _html_table(["", ""], meta))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_reports(run_dir: Path, results: dict[str, Any]) -> None:
    (run_dir / "report.md").write_text(render_markdown(results), encoding="utf-8")
    (run_dir / "report.html").write_text(render_html(results), encoding="utf-8")
