"""The practice app: `streamlit run app.py`. A thin UI over the `rag` library; the pages live in app_pages/.

Two modes, one code path (rules in rag/access.py): local single-user mode with a name box (the default), and
team mode with OpenID Connect sign-in through `st.login` (`PREP_AUTH=team` or an `[auth]` secrets section).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import ui
from rag import access
from rag.history import normalise_user
from rag.questions import Level

st.set_page_config(page_title="AWS interview practice", page_icon=":material/cloud:", layout="centered")

PAGES = {
    access.PRACTICE: ("app_pages/practice.py", "Practice", ":material/forum:"),
    access.PROGRESS: ("app_pages/progress.py", "Progress", ":material/insights:"),
    access.HOW_GRADING: ("app_pages/how_grading.py", "How grading works", ":material/help:"),
    access.TEAM: ("app_pages/team.py", "Team members", ":material/groups:"),
    access.EVAL_REPORTS: ("app_pages/eval_reports.py", "Grading quality reports", ":material/fact_check:"),
}


def page(key: str) -> st.Page:
    path, title, icon = PAGES[key]
    return st.Page(path, title=title, icon=icon, default=key == access.PRACTICE)


def only_page(render, title: str) -> None:
    """Show one page at every page's URL (no navigation), then stop: sign-in and configuration errors.
    A link to /progress before sign-in lands on the sign-in page, not on a "page not found" dialog."""
    url_paths = [Path(path).stem for path, _, _ in PAGES.values()]
    pages = [st.Page(render, title=title, url_path=url, default=i == 0) for i, url in enumerate(url_paths)]
    st.navigation(pages, position="hidden").run()
    st.stop()


def sign_in() -> None:
    st.markdown("#### AWS interview practice")
    st.write("Sign in with your team account. Your practice history is private to you.")
    for name in access.providers(ui.auth_secrets()) or [""]:
        key = f"sign_in_{name}" if name else "sign_in"
        if st.button(access.provider_label(name), icon=":material/login:", type="primary", key=key):
            if name:
                st.login(name)
            else:
                st.login()


def local_user_box() -> None:
    """The name box of local mode; `?user=` fills it on first load and follows it, as before."""
    settings = ui.settings()
    if "user_name" not in st.session_state:
        st.session_state.user_name = normalise_user(st.query_params.get("user"), settings.user_name)
    st.text_input(
        "Your name",
        key="user_name",
        max_chars=64,
        help="Progress is saved per name on this machine. There are no passwords: this is a local practice tool.",
    )
    user = ui.current_user()
    if st.query_params.get("user") != user:
        st.query_params["user"] = user
    st.caption(":material/computer: Local single-user mode: no sign-in, for use on this machine only.")
    address = str(st.get_option("server.address") or "")
    if not access.loopback_only(address):
        st.warning(
            f"This local mode is served on {ui.escape_markdown(address or 'every interface')}: anyone who can "
            "reach it can open any name's progress. Bind to 127.0.0.1 (`make run`) or use team mode.",
            icon=":material/public:",
        )


def team_user_box(viewer: access.Viewer) -> None:
    if "user" in st.query_params:  # a left-over ?user= names nobody in team mode
        del st.query_params["user"]
    role = " · team admin" if viewer.admin else ""
    st.markdown(f"Signed in as {ui.inline_code(viewer.user)}{role}")  # code: an email, not a mailto link
    if st.button("Sign out", icon=":material/logout:", key="sign_out"):
        st.logout()


def filters_box(user: str) -> None:
    """Topic and level filters, saved per user: they come back after a reload, a restart or on another device."""
    bank, history = ui.bank(), ui.history()
    levels = [level.value for level in Level]
    if st.session_state.get("filters_for") != user:
        saved_topics, saved_levels = history.filters(user)
        st.session_state.topics = [t for t in saved_topics if t in bank.topics]
        st.session_state.levels = [v for v in saved_levels if v in levels]
        st.session_state.filters_for = user
        st.session_state.filters_saved = (st.session_state.topics, st.session_state.levels)
    st.multiselect("Topics", bank.topics, key="topics", placeholder="All topics")
    st.multiselect("Levels", levels, key="levels", placeholder="All levels")
    chosen = (list(st.session_state.topics), list(st.session_state.levels))
    if chosen != st.session_state.filters_saved:
        history.set_filters(user, *chosen)
        st.session_state.filters_saved = chosen


def sidebar(viewer: access.Viewer) -> st.delta_generator.DeltaGenerator:
    """User, filters and grader status; returns a slot the page fills with the latest grading notice."""
    with st.sidebar:
        if viewer.team:
            team_user_box(viewer)
        else:
            local_user_box()
        filters_box(ui.current_user())
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


def current_viewer() -> access.Viewer:
    """The viewer, after showing the sign-in or configuration page (and stopping) where team mode needs it."""
    if ui.app_mode() == "local":
        return ui.current_viewer()
    problem = access.auth_problem(ui.auth_secrets())
    if problem is None and not ui.authlib_installed():
        problem = "Team mode signs in through Authlib, which is not installed: run `make install`."
    if problem:
        only_page(lambda: st.error(problem, icon=":material/error:"), "Sign-in is not set up")
    if ui.viewer() is None:
        only_page(sign_in, "Sign in")
    return ui.current_viewer()


try:
    viewer = current_viewer()
    pages = st.navigation({name: [page(key) for key in keys] for name, keys in access.sections(viewer).items()})
    notice_slot = sidebar(viewer)
    pages.run()
    session = st.session_state.get("interview")
    if session is not None and session.last_notice:
        notice_slot.warning(ui.escape_markdown(session.last_notice), icon=":material/swap_horiz:")
except Exception as exc:
    ui.show_error(exc)
