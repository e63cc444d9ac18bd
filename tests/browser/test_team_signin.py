"""Team mode end to end: a real OpenID Connect provider (oidc-provider-mock), the app signing in through
`st.login`, and Debian's chromium driving both.

Alice signs in and records an attempt, signs out; Bob signs in in the same browser and cannot reach Alice's
progress by any URL; an admin (by email, and one by group claim) gets the Team page, a candidate does not.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from rag.history import History
from tests.browser.test_e2e import _free_port, _wait_healthy, running_app, wait_for_url

pytestmark = pytest.mark.browser

ALICE, BOB, BOSS = "alice@example.com", "bob@example.com", "boss@example.com"
CAROL = {"sub": "carol", "email": "carol@example.com", "groups": ["staff", "prep-admins"]}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m oidc_provider_mock` on a free loopback port; its issuer URL. Carol is predefined with a
    groups claim; any other subject typed into its form signs in with that subject as its email."""
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port),
               "--user-claims", json.dumps(CAROL)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    issuer = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(f"{issuer}/.well-known/openid-configuration", process, log, "the OIDC provider", 30)
        yield issuer
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


@pytest.fixture(scope="module")
def team_app(tmp_path_factory: pytest.TempPathFactory, provider: str):
    """The app in team mode, its [auth] secrets in a temporary file pointing at the provider."""
    root = tmp_path_factory.mktemp("team")
    port = _free_port()
    secrets_file = root / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "prep-app"\n'
        'client_secret = "prep-app-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = {"PREP_AUTH": "team", "PREP_ADMIN_EMAILS": BOSS, "PREP_ADMIN_CLAIM": "groups",
           "PREP_ADMIN_GROUP": "prep-admins"}  # fmt: skip
    with running_app(root, port=port, env=env, args=["--secrets.files", str(secrets_file)]) as server:
        _wait_healthy(server.url, server.process, server.log)
        yield server


@pytest.fixture
def context(browser, team_app):
    """A fresh browser profile (no cookies); a screenshot and the server log's path on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(30_000)
    try:
        yield context
    except BaseException:
        raise
    finally:
        for index, page in enumerate(context.pages):
            page.screenshot(path=str(team_app.log.with_name(f"team-page-{index}.png")), full_page=True)
        context.close()


def _sign_in(page, url: str, subject: str) -> None:
    """From the app's sign-in page through the provider's form back to the app, signed in as `subject`."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    predefined = page.get_by_role("button", name=subject, exact=True)
    if predefined.count():
        predefined.click()
    else:
        page.locator("input[name=sub]").fill(subject)
        page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(r"^" + re.escape(url)))
    page.get_by_text(re.compile(r"^Signed in as ")).wait_for(state="visible")
    assert page.get_by_test_id("stSidebar").locator("a[href^='mailto:']").count() == 0, "the email is plain text"


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    end_session = page.get_by_role("button", name="End session")
    end_session.or_(page.get_by_role("button", name="Sign in")).first.wait_for(state="visible")
    if end_session.count():  # the provider's logout confirmation, then back to the app
        end_session.click()
    page.get_by_role("button", name="Sign in").wait_for(state="visible")


def _no_traceback(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, "the app showed a traceback"


def _nav_links(page) -> list[str]:
    """The navigation's page titles (each link's text starts with its icon's name)."""
    return [text.strip().splitlines()[-1].strip() for text in page.get_by_test_id("stSidebarNavLink").all_inner_texts()]


def test_team_members_see_only_their_own_history_and_only_admins_see_the_team(team_app, context):
    url = team_app.url
    history = History.in_data_dir(team_app.data)
    page = context.new_page()

    # Nobody signed in: every URL is the sign-in page, and nothing is read or written.
    page.goto(f"{url}/progress?user={ALICE}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").wait_for(state="visible")
    assert page.get_by_text("Page not found").count() == 0, "a deep link lands on the sign-in page"
    assert page.get_by_test_id("stChatInput").count() == 0 and page.get_by_text("Attempts").count() == 0

    # Alice signs in, gets a question, and records an attempt ("I don't know" needs no grading model).
    _sign_in(page, url, ALICE)
    _no_traceback(page)
    expect_sidebar = page.get_by_test_id("stSidebar")
    assert ALICE in expect_sidebar.inner_text() and "team admin" not in expect_sidebar.inner_text()
    assert page.get_by_role("textbox", name="Your name").count() == 0, "no name box in team mode"
    page.get_by_test_id("stChatMessage").filter(has_text="Question 1 ·").first.wait_for(state="visible")
    page.get_by_role("button", name="I don't know").click()
    page.get_by_text("That's fine in practice").first.wait_for(state="visible")
    deadline = time.monotonic() + 15
    while not history.attempts_for(ALICE) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [a.kind for a in history.attempts_for(ALICE)] == ["idk"]
    assert _nav_links(page) == ["Practice", "Progress", "How grading works"], "a candidate has no Team pages"
    page.goto(f"{url}/progress", wait_until="domcontentloaded")
    page.get_by_test_id("stMetric").filter(has_text="Attempts").wait_for(state="visible")
    assert "1" in page.get_by_test_id("stMetric").filter(has_text="Attempts").inner_text()
    _sign_out(page)

    # Bob signs in in the same browser; no URL or query parameter shows him Alice's attempts.
    _sign_in(page, url, BOB)
    assert BOB in page.get_by_test_id("stSidebar").inner_text()
    for path in (f"/progress?user={ALICE}", "/progress?user=alice", f"/?user={ALICE}", "/team", "/eval_reports",
                 f"/team?user={ALICE}"):  # fmt: skip
        page.goto(url + path, wait_until="domcontentloaded")
        page.get_by_text(re.compile(r"^Signed in as ")).wait_for(state="visible")
        page.wait_for_timeout(800)
        _no_traceback(page)
        body = page.locator("body").inner_text()
        assert ALICE not in body, f"{path} showed Alice"
        assert "Team members" not in body and "Eval reports" not in body, f"{path} showed an admin page"
        assert "user=" not in page.url, f"{path} kept a user parameter"
    page.goto(f"{url}/progress?user={ALICE}", wait_until="domcontentloaded")
    page.get_by_text("No attempts yet").wait_for(state="visible")
    assert history.attempts_for(BOB) == [] and len(history.attempts_for(ALICE)) == 1
    assert _nav_links(page) == ["Practice", "Progress", "How grading works"]
    context.clear_cookies()

    # An admin by email sees every member on the Team page, and the reports.
    _sign_in(page, url, BOSS)
    assert "team admin" in page.get_by_test_id("stSidebar").inner_text()
    assert _nav_links(page) == [
        "Practice", "Progress", "How grading works", "Team members", "Grading quality reports"
    ]  # fmt: skip
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Team members").click()
    page.get_by_text("Mean score by topic").wait_for(state="visible")
    _no_traceback(page)
    page.get_by_test_id("stDataFrame").first.wait_for(state="visible")
    page.get_by_test_id("stSelectbox").click()  # every member who has signed in is listed
    for member in (ALICE, BOB, BOSS):
        page.get_by_role("option", name=member).wait_for(state="visible")
    page.keyboard.press("Escape")
    page.get_by_text("miss rate").first.wait_for(state="visible")  # Alice's missed key points
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Grading quality reports").click()
    page.get_by_text("Eval reports", exact=True).wait_for(state="visible")
    context.clear_cookies()

    # An admin by the provider's groups claim (a predefined user of the provider) gets the Team page too.
    _sign_in(page, url, "carol")
    assert "carol@example.com" in page.get_by_test_id("stSidebar").inner_text()
    assert "Team members" in _nav_links(page)


def test_team_mode_without_auth_secrets_is_a_one_line_error_page(browser, tmp_path):
    """`PREP_AUTH=team` with a secrets file that has no [auth]: every URL says what to add, nothing else."""
    empty = tmp_path / "secrets.toml"
    empty.write_text('other = "value"\n')
    with running_app(tmp_path / "app", env={"PREP_AUTH": "team"}, args=["--secrets.files", str(empty)]) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            for path in ("/", f"/progress?user={ALICE}"):
                page.goto(server.url + path, wait_until="domcontentloaded")
                error = page.get_by_test_id("stAlertContentError")
                error.wait_for(state="visible")
                assert "[auth]" in error.inner_text() and ".streamlit/secrets.toml" in error.inner_text()
                assert page.get_by_test_id("stChatInput").count() == 0
                assert page.get_by_role("button", name="Sign in").count() == 0
                assert page.get_by_role("textbox", name="Your name").count() == 0
                assert page.get_by_text("Page not found").count() == 0
                _no_traceback(page)
            page.screenshot(path=str(server.log.with_name("misconfigured.png")))
        finally:
            page.close()
