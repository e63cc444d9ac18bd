"""The practice app: `streamlit run app.py`. A thin UI over the `rag` library; the pages live in app_pages/."""

from __future__ import annotations

import streamlit as st

from app_pages import ui
from rag.history import normalise_user
from rag.questions import Level

st.set_page_config(page_title="AWS interview practice", page_icon=":material/cloud:", layout="centered")


def sidebar() -> st.delta_generator.DeltaGenerator:
    """User, filters and grader status; returns a slot the page fills with the latest grading notice."""
    settings = ui.settings()
    if "user_name" not in st.session_state:
        st.session_state.user_name = normalise_user(st.query_params.get("user"), settings.user_name)
    with st.sidebar:
        st.text_input(
            "Your name",
            key="user_name",
            max_chars=64,
            help="Progress is saved per name on this machine. There are no passwords: this is a local practice tool.",
        )
        user = ui.current_user()
        if st.query_params.get("user") != user:
            st.query_params["user"] = user
        bank = ui.bank()
        st.multiselect("Topics", bank.topics, key="topics", placeholder="All topics")
        st.multiselect("Levels", [level.value for level in Level], key="levels", placeholder="All levels")
        engine = ui.engine()
        st.markdown(f"**Grader:** {ui.escape_markdown(ui.grader_words(engine.grader_label()))}")
        if engine.grader_problem:
            st.warning(ui.escape_markdown(engine.grader_problem), icon=":material/warning:")
        notice = st.empty()
        st.caption(
            "This is practice feedback from an automated grader, not a hiring evaluation. "
            "Real interviewers weigh much more than keywords."
        )
    return notice


pages = st.navigation(
    {
        "Practice": [
            st.Page("app_pages/practice.py", title="Practice", icon=":material/forum:", default=True),
            st.Page("app_pages/progress.py", title="Progress", icon=":material/insights:"),
            st.Page("app_pages/how_grading.py", title="How grading works", icon=":material/help:"),
        ],
        "Team": [
            st.Page("app_pages/eval_reports.py", title="Grading quality reports", icon=":material/fact_check:"),
        ],
    }
)
try:
    notice_slot = sidebar()
    pages.run()
    session = st.session_state.get("interview")
    if session is not None and session.last_notice:
        notice_slot.warning(ui.escape_markdown(session.last_notice), icon=":material/swap_horiz:")
except Exception as exc:
    ui.show_error(exc)
