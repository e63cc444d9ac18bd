"""The sign-in and role rules of rag/access.py: who the user is, who is an admin, which pages each one gets."""

from __future__ import annotations

import pytest

from rag import access
from rag.settings import Settings

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a long random string",
    "client_id": "prep",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration",
}


def signed_in(**claims) -> dict:
    return {"is_logged_in": True, **claims}


@pytest.mark.parametrize(
    ("setting", "secrets", "expected"),
    [("local", {}, "local"), ("local", None, "local"), ("team", {}, "team"), ("local", AUTH, "team"),
     ("team", AUTH, "team")],
)  # fmt: skip
def test_team_mode_is_on_by_the_setting_or_by_an_auth_section(setting, secrets, expected):
    assert access.mode(setting, secrets) == expected


def test_auth_problem_says_what_to_add_in_one_line():
    assert access.auth_problem(AUTH) is None
    missing = access.auth_problem({})
    assert missing is not None and "[auth]" in missing and "secrets.toml" in missing and "\n" not in missing
    partial = access.auth_problem({k: v for k, v in AUTH.items() if k not in ("client_secret", "cookie_secret")})
    assert partial is not None and "cookie_secret, client_secret" in partial
    blank = access.auth_problem({**AUTH, "client_id": "  "})
    assert blank is not None and "client_id" in blank
    wrong = access.auth_problem({**AUTH, "redirect_uri": "http://127.0.0.1:8501/"})
    assert wrong is not None and "/oauth2callback" in wrong


def test_named_providers_are_checked_and_each_gets_a_sign_in_button():
    shared = {k: AUTH[k] for k in access.SHARED_KEYS}
    provider = {k: AUTH[k] for k in access.PROVIDER_KEYS}
    named = {**shared, "google": dict(provider), "microsoft_entra": dict(provider)}
    assert access.auth_problem(named) is None
    assert access.providers(named) == ["google", "microsoft_entra"]
    assert [access.provider_label(p) for p in access.providers(named)] == [
        "Sign in with Google", "Sign in with Microsoft Entra",
    ]  # fmt: skip
    assert access.providers(AUTH) == [""] and access.provider_label("") == "Sign in"
    assert access.providers({**AUTH, "okta": dict(provider)}) == ["", "okta"], "the default and a named one"
    lacking = access.auth_problem({**shared, "google": {k: v for k, v in provider.items() if k != "client_secret"}})
    assert lacking is not None and "client_secret" in lacking and "[auth.google]" in lacking and "\n" not in lacking
    no_provider = access.auth_problem(shared)
    assert no_provider is not None and "client_id" in no_provider and "[auth]" in no_provider


def test_identity_is_the_email_lower_cased_else_sub_and_none_before_sign_in():
    assert access.identity(signed_in(email="Alice@Example.COM", sub="123")) == "alice@example.com"
    assert access.identity(signed_in(sub="user-123")) == "user-123"
    assert access.identity(signed_in(email="a@x.com", email_verified=False, sub="s-1")) == "s-1"
    assert access.identity(signed_in(email="a@x.com", email_verified="false", sub="s-1")) == "s-1"
    assert access.identity(signed_in(email="a@x.com", email_verified=True, sub="s-1")) == "a@x.com"
    assert access.identity({"email": "a@x.com"}) is None, "not signed in: no identity"
    assert access.identity({"is_logged_in": False, "email": "a@x.com"}) is None
    assert access.identity(signed_in()) is None, "signed in without any identity claim"


def test_admins_are_listed_verified_emails_or_members_of_the_admin_group():
    admins = ("boss@example.com",)
    assert access.is_admin(signed_in(email="Boss@example.com"), admins)
    assert not access.is_admin(signed_in(email="dev@example.com"), admins)
    assert not access.is_admin(signed_in(email="boss@example.com", email_verified=False), admins)
    assert not access.is_admin({"email": "boss@example.com"}, admins), "not signed in"
    grouped = signed_in(email="dev@example.com", groups=["staff", "prep-admins"])
    assert access.is_admin(grouped, admins, "groups", "prep-admins")
    assert not access.is_admin(grouped, admins, "groups", "other")
    assert not access.is_admin(grouped, admins, "groups", None), "a claim without a group names nobody"
    assert not access.is_admin(grouped, admins, None, "prep-admins")
    assert access.is_admin(signed_in(sub="x", roles="reader prep-admins"), (), "roles", "prep-admins")
    assert not access.is_admin(signed_in(sub="x", roles="prep-admins-not"), (), "roles", "prep-admins")


def test_pages_per_viewer():
    local = access.local_viewer("  Dana  ", "candidate")
    assert local.user == "Dana" and not local.team
    assert access.sections(local) == {
        "Practice": [access.PRACTICE, access.PROGRESS, access.HOW_GRADING],
        "Team": [access.EVAL_REPORTS],
    }
    candidate = access.team_viewer(signed_in(email="dev@example.com"), ("boss@example.com",))
    assert candidate is not None and candidate.user == "dev@example.com" and not candidate.admin
    assert access.sections(candidate) == {"Practice": [access.PRACTICE, access.PROGRESS, access.HOW_GRADING]}
    admin = access.team_viewer(signed_in(email="boss@example.com"), ("boss@example.com",))
    assert admin is not None and admin.admin
    assert access.sections(admin)["Team"] == [access.TEAM, access.EVAL_REPORTS]
    assert access.team_viewer({"is_logged_in": False}, ()) is None


def test_settings_read_admin_emails_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PREP_AUTH", "team")
    monkeypatch.setenv("PREP_ADMIN_EMAILS", " Boss@Example.com, ,ops@example.com ")
    monkeypatch.setenv("PREP_ADMIN_CLAIM", "groups")
    monkeypatch.setenv("PREP_ADMIN_GROUP", "")
    settings = Settings(_env_file=None)
    assert settings.auth == "team"
    assert settings.admin_emails == ("boss@example.com", "ops@example.com")
    assert settings.admin_claim == "groups" and settings.admin_group is None


def test_loopback_only_addresses():
    assert all(access.loopback_only(a) for a in ("127.0.0.1", "localhost", "::1", "[::1]", " LOCALHOST "))
    assert not any(access.loopback_only(a) for a in (None, "", "0.0.0.0", "::", "192.0.2.10"))
