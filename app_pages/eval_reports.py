"""Eval reports written by the evals tool (evals/runs/<run>/), so a team can review grading quality here too."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from app_pages import ui

RUN_MARKERS = ("results.json", "report.md", "report.html", "config.json")
MAX_REPORT_CHARS = 400_000


def runs(directory: Path) -> list[Path]:
    """Run folders, newest first (their names start with a timestamp)."""
    if not directory.is_dir():
        return []
    found = [d for d in directory.iterdir() if d.is_dir() and any((d / m).is_file() for m in RUN_MARKERS)]
    return sorted(found, key=lambda d: d.name, reverse=True)


def _summary(path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        st.warning(f"results.json cannot be read ({ui.escape_markdown(type(exc).__name__)}).")
        return
    if not isinstance(data, dict):
        return
    scalars = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None}
    if scalars:
        st.dataframe([{"field": k, "value": str(v)} for k, v in scalars.items()], hide_index=True, width="stretch")
    with st.expander("results.json (top level)"):
        st.json({k: v for k, v in data.items() if not isinstance(v, list)}, expanded=False)


def main() -> None:
    ui.require(ui.current_viewer().sees_reports, "The grading quality reports page")
    st.markdown("#### Eval reports")
    st.caption("Grading-quality reports from `make evals`: agreement with human grades, consistency, robustness.")
    directory = ui.eval_runs_dir()
    found = runs(directory)
    if not found:
        st.info(
            f"No eval reports yet. Run `make evals` to write one under {ui.escape_markdown(str(directory))}.",
            icon=":material/info:",
        )
        return
    run = st.selectbox("Run", found, format_func=lambda d: d.name, key="eval_run")
    if run is None:
        return
    report_md, report_html, results = run / "report.md", run / "report.html", run / "results.json"
    if not results.is_file():
        st.warning("This run has no results yet: it is still running or was interrupted (`make evals` resumes it).")
    if report_html.is_file():
        st.download_button(
            "Download report.html", report_html.read_bytes(), file_name=f"{run.name}-report.html",
            mime="text/html", icon=":material/download:", key="eval_html",
        )  # fmt: skip
    if results.is_file():
        _summary(results)
    if report_md.is_file():
        text = report_md.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_REPORT_CHARS:
            st.caption(f"The report is long; showing the first {MAX_REPORT_CHARS:,} characters.")
            text = text[:MAX_REPORT_CHARS]
        with st.container(border=True):
            st.markdown(ui.without_remote_content(text))


main()
