"""Settings from environment variables and a `.env` file.

Project settings use the `PREP_` prefix; the conventional names of the external
services (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `CHROMA_HOST`, `CHROMA_PORT`) are read as they are.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAX_ANSWER_CHARS = 8000
DEBUG_VARIABLE = "PREP_DEBUG"
ENVIRONMENT_ONLY = {
    DEBUG_VARIABLE: "Any value: the CLIs show the traceback of an unexpected error. Read from the environment "
    "alone, so it works when another setting is broken.",
}
"""Variables read from the environment only, not through `Settings`: name -> meaning (listed in docs/settings.md)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PREP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(default=PROJECT_ROOT / "data", description="Chroma index, history and LLM call log.")
    corpus_dir: Path = Field(default=PROJECT_ROOT / "corpus", description="Folder of Markdown files to ingest.")
    questions_file: Path = Field(default=PROJECT_ROOT / "corpus" / "questions.yaml", description="The question bank.")
    prompts_dir: Path = Field(
        default=PROJECT_ROOT / "prompts",
        description="Rubric, feedback templates, guard phrases and patterns, lexicon, LLM prompt and prices; "
        "every grader and the app read them from here.",
    )
    eval_runs_dir: Path = Field(
        default=PROJECT_ROOT / "evals" / "runs", description="Where the app's eval reports page looks for runs."
    )
    collection: str = Field(default="aws_guide", description="Chroma collection name (one per corpus).")
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the history database (postgresql+psycopg://user:pass@host:port/db); "
        "unset means SQLite in the data directory.",
    )

    chroma_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CHROMA_HOST", "PREP_CHROMA_HOST"),
        description="Chroma server host; unset means the embedded PersistentClient.",
    )
    chroma_port: int = Field(
        default=8000,
        validation_alias=AliasChoices("CHROMA_PORT", "PREP_CHROMA_PORT"),
        description="Chroma server port.",
    )

    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "PREP_OPENAI_API_KEY"),
        description="Key for OpenAI or an OpenAI-compatible server; set, it turns the LLM grader on.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "PREP_OPENAI_BASE_URL"),
        description="URL of an OpenAI-compatible server (llama.cpp, vLLM, ...); set, it turns the LLM grader on.",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="Chat model name for the LLM grader.")
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds per LLM request.")
    llm_max_retries: int = Field(default=2, ge=0, le=10, description="Retries with backoff per LLM request.")
    llm_samples: int = Field(default=1, ge=1, le=15, description="Self-consistency samples per answer.")
    llm_max_tokens: int = Field(default=1200, ge=64, description="Reply length cap for the LLM grader.")
    llm_seed: int = Field(default=7, description="Sampling seed sent to the LLM server.")
    llm_log_max_chars: int = Field(
        default=16_000, ge=1_000, description="Prompt and reply texts longer than this are cut in the LLM call log."
    )
    llm_log_keep_days: int = Field(default=30, ge=1, description="LLM call log rows older than this are pruned.")
    llm_log_max_rows: int = Field(default=20_000, ge=100, description="The LLM call log keeps at most this many rows.")

    grader: Literal["auto", "offline", "llm"] = Field(
        default="auto", description="auto = the LLM grader when a key or base URL is set, else offline."
    )
    max_answer_chars: int = Field(
        default=DEFAULT_MAX_ANSWER_CHARS, ge=100, description="Longer answers are truncated with a notice."
    )
    retrieval_k: int = Field(default=3, ge=1, le=20, description="Reference passages retrieved per grade.")
    user_name: str = Field(default="candidate", description="Local mode: the default name for the practice history.")

    auth: Literal["local", "team"] = Field(
        default="local",
        description="local = no sign-in, one machine; team = OpenID Connect sign-in (an [auth] section in "
        ".streamlit/secrets.toml switches team mode on as well).",
    )
    admin_emails: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Team mode: comma-separated emails of the team admins (compared case-insensitively)."
    )
    admin_claim: str | None = Field(
        default=None, description="Team mode: an ID-token claim (e.g. groups) whose members are admins too."
    )
    admin_group: str | None = Field(
        default=None, description="Team mode: the value of PREP_ADMIN_CLAIM that makes an admin."
    )

    @field_validator("admin_emails", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`PREP_ADMIN_EMAILS=a@x.com, b@x.com` is a plain list, not JSON; stored lower-cased."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(str(item).strip().lower() for item in value if str(item).strip())
        return value

    @field_validator("admin_claim", "admin_group", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("openai_api_key", "openai_base_url", "chroma_host", "database_url", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        """`OPENAI_API_KEY=` in a .env file means no key, not an empty key that switches the LLM grader on."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_base_url) or self.openai_api_key is not None

    @property
    def active_grader(self) -> Literal["offline", "llm"]:
        if self.grader == "auto":
            return "llm" if self.llm_configured else "offline"
        return self.grader


def load_settings() -> Settings:
    """Settings from the environment and .env; a bad value is one ConfigError line naming the variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        variable = field if field.isupper() else f"PREP_{field.upper()}"
        value = first.get("input")
        message = f"{variable}={value!r} is not valid: {first['msg']}; fix it in the environment or .env"
        raise ConfigError(message) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
