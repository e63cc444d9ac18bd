"""How grading works: verdicts, penalties and bands come from prompts/rubric.yaml, so the page stays true."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import ui
from rag.grading.rubric import Rubric

PAGE_TEXT = Path(__file__).with_name("how_grading.md")


def _credit(rubric: Rubric, verdict: str) -> str:
    spec = rubric.verdicts[verdict]
    low, high = spec.bounds
    return f"{low:g}-{high:g}" if high > low else f"{spec.credit:g}"


def page_markdown(rubric: Rubric | None = None) -> str:
    """The page's Markdown with the rubric's verdicts, penalties and bands filled in."""
    rubric = rubric or ui.prompt_files().rubric()
    verdicts = "\n".join(
        f"| {name} | {ui.escape_markdown(spec.description)} | {_credit(rubric, name)} |"
        for name, spec in rubric.verdicts.items()
    )
    bands = "\n".join(
        f"| {band.label} | {band.min:g} | {ui.escape_markdown(band.anchor)} |" for band in rubric.bands
    )
    return PAGE_TEXT.read_text(encoding="utf-8").format(
        verdicts=verdicts,
        bands=bands,
        misconception=f"{rubric.penalties.misconception:g}",
        contradiction=f"{rubric.penalties.contradiction:g}",
    )


st.markdown("#### How grading works")
st.markdown(page_markdown())
