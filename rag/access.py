"""Who is using the app and what they may see: local single-user mode or team mode with OpenID Connect sign-in.

Pure functions over plain mappings (the `[auth]` secrets section, the signed-in user's ID-token claims), so the
rules are tested without Streamlit. The app reads `st.secrets` and `st.user` and passes them in.

The rules:
- Team mode is on when `PREP_AUTH=team` or when the secrets have an `[auth]` section. An `[auth]` section always
  means team mode, so a secrets file copied to a shared server never serves everyone without sign-in.
- In team mode the history key is the provider's identity: the email (lower-cased) unless the provider marks it
  unverified, else `sub`. Nothing the browser sends (query parameters, a typed name) changes it.
- Admins are the emails in `PREP_ADMIN_EMAILS`, plus members of `PREP_ADMIN_GROUP` in the `PREP_ADMIN_CLAIM`
  claim when both are set. Only a verified email counts for the admin list.
- In local mode there is one person at the machine: no sign-in, and the grading reports stay visible as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rag.history import normalise_user

Mode = Literal["local", "team"]
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
SHARED_KEYS = ("redirect_uri", "cookie_secret")

PRACTICE = "practice"
PROGRESS = "progress"
HOW_GRADING = "how_grading"
TEAM = "team"
EVAL_REPORTS = "eval_reports"


def loopback_only(address: str | None) -> bool:
    """True when the server listens on this machine only; an unset address means every interface."""
    return (address or "").strip().strip("[]").lower() in ("127.0.0.1", "localhost", "::1")


def mode(auth_setting: str, auth_secrets: Mapping[str, Any] | None) -> Mode:
    """Team when the setting says so or an `[auth]` section exists; local otherwise."""
    return "team" if auth_setting == "team" or bool(auth_secrets) else "local"


def providers(auth_secrets: Mapping[str, Any] | None) -> list[str]:
    """The sign-in providers `[auth]` configures, in file order: "" for the default one (its keys directly in
    `[auth]`, `st.login()`), and each named section such as `[auth.google]` (`st.login("google")`)."""
    if not auth_secrets:
        return []
    found = [""] if any(key in auth_secrets for key in PROVIDER_KEYS) else []
    return found + [str(name) for name, value in auth_secrets.items() if isinstance(value, Mapping)]


def provider_label(name: str) -> str:
    """The sign-in button's words for a provider."""
    return f"Sign in with {name.replace('_', ' ').title()}" if name else "Sign in"


def _blank(section: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """The keys that `section` lacks or leaves blank."""
    return [key for key in keys if not str(section.get(key) or "").strip()]


def auth_problem(auth_secrets: Mapping[str, Any] | None) -> str | None:
    """None when `[auth]` has what `st.login()` needs, else one line saying what to add.

    `redirect_uri` and `cookie_secret` sit in `[auth]`; each provider (the default one in `[auth]` itself, or
    named sections such as `[auth.google]` and `[auth.microsoft]`) needs its client id, secret and metadata URL.
    """
    if not auth_secrets:
        return (
            "Team mode (PREP_AUTH=team) needs sign-in settings: add an [auth] section with redirect_uri, "
            "cookie_secret, client_id, client_secret and server_metadata_url to .streamlit/secrets.toml "
            "(see .streamlit/secrets.example.toml)."
        )
    missing = _blank(auth_secrets, SHARED_KEYS)
    configured = providers(auth_secrets)
    if not configured or "" in configured:  # the default provider's keys sit in [auth] itself
        missing += _blank(auth_secrets, PROVIDER_KEYS)
    if missing:
        return (
            f"Team mode sign-in is not fully set up: add {', '.join(missing)} to the [auth] section of "
            ".streamlit/secrets.toml (see .streamlit/secrets.example.toml)."
        )
    for name in (n for n in configured if n):
        lacking = _blank(auth_secrets[name], PROVIDER_KEYS)
        if lacking:
            return (
                f"Team mode sign-in is not fully set up: add {', '.join(lacking)} to the [auth.{name}] section of "
                ".streamlit/secrets.toml (see .streamlit/secrets.example.toml)."
            )
    redirect = str(auth_secrets["redirect_uri"])
    if not redirect.rstrip("/").endswith("/oauth2callback"):
        return (
            f"Team mode sign-in: redirect_uri in .streamlit/secrets.toml must be the app's address ending in "
            f"/oauth2callback (it is {redirect!r})."
        )
    return None


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The email claim, lower-cased, unless the provider says `email_verified` is false.

    Many providers leave `email_verified` out for accounts they manage themselves, so only an explicit false
    (a boolean, or the string "false" some providers send) rejects the email.
    """
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or not email.strip():
        return None
    verified = claims.get("email_verified", True)
    if verified is False or (isinstance(verified, str) and verified.strip().lower() == "false"):
        return None
    return email.strip().lower()


def identity(claims: Mapping[str, Any]) -> str | None:
    """The signed-in user's history key: the verified email, else `sub`; None when not signed in."""
    if not claims.get("is_logged_in"):
        return None
    email = verified_email(claims)
    if email:
        return normalise_user(email)
    sub = claims.get("sub")
    if sub is None or not str(sub).strip():
        return None
    return normalise_user(str(sub))


def _claim_values(value: Any) -> set[str]:
    """A group claim as a set of names: a list, or one string (some providers send "a b" or "a,b")."""
    if isinstance(value, str):
        return {part for part in value.replace(",", " ").split() if part}
    if isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        return {str(item).strip() for item in value if str(item).strip()}
    return set()


def is_admin(
    claims: Mapping[str, Any],
    admin_emails: Iterable[str],
    admin_claim: str | None = None,
    admin_group: str | None = None,
) -> bool:
    """True for a signed-in user whose verified email is listed, or who is in the admin group claim."""
    if not claims.get("is_logged_in"):
        return False
    email = verified_email(claims)
    if email and email in {e.strip().lower() for e in admin_emails}:
        return True
    if admin_claim and admin_group:
        return admin_group in _claim_values(claims.get(admin_claim))
    return False


@dataclass(frozen=True)
class Viewer:
    """The person using this session: their history key, the mode, and whether they see the team's data."""

    user: str
    mode: Mode
    admin: bool = False

    @property
    def team(self) -> bool:
        return self.mode == "team"

    @property
    def sees_reports(self) -> bool:
        """The grading-quality reports: everyone in local mode (today's behaviour), admins in team mode."""
        return not self.team or self.admin

    @property
    def sees_members(self) -> bool:
        """Other members' progress: team admins only (local mode has one user)."""
        return self.team and self.admin


def local_viewer(typed_name: str | None, default: str) -> Viewer:
    return Viewer(user=normalise_user(typed_name, default), mode="local")


def team_viewer(
    claims: Mapping[str, Any],
    admin_emails: Iterable[str],
    admin_claim: str | None = None,
    admin_group: str | None = None,
) -> Viewer | None:
    """The signed-in user, or None when nobody is signed in (or the provider gave no identity)."""
    user = identity(claims)
    if user is None:
        return None
    return Viewer(user=user, mode="team", admin=is_admin(claims, admin_emails, admin_claim, admin_group))


def sections(viewer: Viewer) -> dict[str, list[str]]:
    """The navigation: page keys per section. Pages a viewer may not see are left out, so no URL reaches them."""
    practice = [PRACTICE, PROGRESS, HOW_GRADING]
    team = ([TEAM] if viewer.sees_members else []) + ([EVAL_REPORTS] if viewer.sees_reports else [])
    return {"Practice": practice, "Team": team} if team else {"Practice": practice}
