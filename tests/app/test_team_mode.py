"""Team mode through AppTest: the configuration error, the sign-in page, a candidate's own history only, the
admin's Team page. `at.user` stands in for the signed-in identity (the browser test signs in for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.history import History
from rag.settings import PROJECT_ROOT, get_settings

pytestmark = pytest.mark.slow

APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 240
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-long-enough",
    "client_id": "prep",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ADMIN = "boss@example.com"


@pytest.fixture
def team_env(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PREP_AUTH", "team")
    monkeypatch.setenv("PREP_ADMIN_EMAILS", ADMIN)
    get_settings.cache_clear()
    return app_env


def start(user: dict | None = None, *, secrets: dict | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH if secrets is None else secrets
    at.user = user if user is not None else {"is_logged_in": False}
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.session_state["rng_seed"] = 1
    return at.run()


def signed_in(email: str) -> dict:
    return {"is_logged_in": True, "email": email, "sub": f"sub-{email}"}


def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.error, *at.info, *at.warning]
    return "\n".join(str(p.value) for p in parts)


def no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def answer(at: AppTest, text: str) -> None:
    at.chat_input(key="answer_input").set_value(text).run()
    no_traceback(at)


def test_team_mode_without_auth_secrets_is_a_one_line_error_page(team_env: Path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["unrelated"] = "value"  # a secrets file without [auth]
    at.run()
    no_traceback(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "[auth]" in message and ".streamlit/secrets.toml" in message and "\n" not in message
    assert not at.text_input and not at.chat_input and not at.button, "nothing else on the page"


def test_team_mode_asks_to_sign_in_and_reads_no_history(team_env: Path):
    at = start(query={"user": "alice"})
    no_traceback(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.chat_input and not at.text_input
    assert History.in_data_dir(team_env).users() == []


def test_named_providers_each_get_a_sign_in_button(team_env: Path):
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    at = start(secrets={**shared, "google": dict(provider), "okta": dict(provider)})
    no_traceback(at)
    assert [b.label for b in at.button] == ["Sign in with Google", "Sign in with Okta"]
    broken = start(secrets={**shared, "google": {"client_id": "x"}})
    assert "[auth.google]" in texts(broken) and not broken.button, "an incomplete provider is named, not offered"


def test_a_candidate_practises_as_their_identity_whatever_the_query_says(team_env: Path):
    history = History.in_data_dir(team_env)
    history.set_pending("alice@example.com", {"question_id": "x"})
    at = start(signed_in("Dev@Example.com"), query={"user": "alice@example.com"})
    no_traceback(at)
    assert not at.sidebar.text_input, "no name box in team mode"
    assert "Signed in as ` dev@example.com `" in "\n".join(m.value for m in at.sidebar.markdown)
    assert "user" not in at.query_params
    assert at.session_state["interview"].user == "dev@example.com"
    answer(at, "Security groups are stateful.")
    assert [a.answer for a in history.attempts_for("dev@example.com")] == ["Security groups are stateful."]
    assert history.attempts_for("alice@example.com") == []

    at.switch_page("app_pages/progress.py").run()
    no_traceback(at)
    assert "Everything you have answered, private to you" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Attempts"]) == 1


def test_a_candidate_gets_neither_the_team_page_nor_the_reports(team_env: Path):
    History.in_data_dir(team_env).set_pending("alice@example.com", {"question_id": "x"})
    at = start(signed_in("dev@example.com"))
    no_traceback(at)
    for page in ("app_pages/team.py", "app_pages/eval_reports.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)  # not in the candidate's navigation: no URL reaches it


@pytest.mark.parametrize("page", ["team.py", "eval_reports.py"])
def test_the_admin_pages_stop_a_candidate_even_when_run_directly(team_env: Path, page: str):
    History.in_data_dir(team_env).set_pending("alice@example.com", {"question_id": "x"})
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / page), default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.user = signed_in("dev@example.com")
    at.run()
    no_traceback(at)
    assert [e.value for e in at.error] == [
        f"The {'Team members' if page == 'team.py' else 'grading quality reports'} page is only for team admins."
    ]
    assert not at.dataframe and not at.selectbox and "alice" not in texts(at)


def test_an_admin_sees_every_members_counts_scores_and_weak_points(team_env: Path):
    member = start(signed_in("dev@example.com"))
    answer(member, "Security groups are stateful.")
    at = start(signed_in(ADMIN))
    no_traceback(at)
    assert "team admin" in "\n".join(m.value for m in at.sidebar.markdown)
    at.switch_page("app_pages/team.py").run()
    no_traceback(at)
    assert "Team members" in texts(at)
    overview = at.dataframe[0].value
    rows = {row["member"]: row for row in overview.to_dict("records")}
    assert rows["dev@example.com"]["attempts"] == 1
    assert at.selectbox(key="team_member").options == sorted(rows)
    at.switch_page("app_pages/eval_reports.py").run()
    no_traceback(at)
    assert "Eval reports" in texts(at)


def test_local_mode_is_labelled_and_keeps_the_name_box(app_env: Path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["user_name"] = "dana"
    at.run()
    no_traceback(at)
    assert at.sidebar.text_input(key="user_name").value == "dana"
    assert "Local single-user mode" in "\n".join(c.value for c in at.sidebar.caption)
    assert not at.sidebar.warning, "served on 127.0.0.1 (.streamlit/config.toml): no exposure warning"


def test_inline_code_keeps_any_text_as_typed():
    from app_pages.ui import inline_code

    assert inline_code("dev@example.com") == "` dev@example.com `"
    assert inline_code("a`b``c") == "``` a`b``c ```"
    assert inline_code("two\nlines") == "` two lines `"
