"""A log of every LLM call in SQLite (`<data_dir>/llm_calls.sqlite3`), and the token and cost summary evals report.

One row per HTTP attempt, failed ones included, so that a grade can be traced to the exact prompt and raw reply.
Secrets never reach the file: every text field passes through `redact` before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rag.datafiles import SHIPPED_PROMPTS_DIR, load_yaml_mapping, validated
from rag.settings import Settings

logger = logging.getLogger(__name__)

LOG_FILENAME = "llm_calls.sqlite3"
PRICES_FILE = "llm_prices.yaml"
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{4,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.=+/]{8,}")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+(:[^/\s@]*)?@")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    grader TEXT NOT NULL,
    model TEXT NOT NULL,
    base_url TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT '',
    question_id TEXT NOT NULL DEFAULT '',
    sample INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    http_status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    messages_json TEXT NOT NULL,
    response_text TEXT NOT NULL DEFAULT '',
    latency_ms REAL NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER
);
CREATE INDEX IF NOT EXISTS llm_calls_created_at ON llm_calls (created_at);
"""
_COLUMNS = (
    "created_at",
    "grader",
    "model",
    "base_url",
    "mode",
    "question_id",
    "sample",
    "attempt",
    "status",
    "http_status",
    "error",
    "messages_json",
    "response_text",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
)


def redact(text: str | None, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secret values, OpenAI-style keys, bearer tokens or passwords in URLs."""
    if not text:
        return ""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    text = _OPENAI_KEY.sub("sk-[REDACTED]", text)
    text = _BEARER.sub(r"\1[REDACTED]", text)
    return _URL_USERINFO.sub(r"\1[REDACTED]@", text)


@dataclass
class LLMCall:
    """One request to the chat-completions endpoint and what came back."""

    grader: str
    model: str
    base_url: str
    messages: Sequence[dict[str, str]]
    status: str  # "ok" | "error"
    latency_ms: float
    response_text: str = ""
    error: str = ""
    http_status: int | None = None
    mode: str = ""
    question_id: str = ""
    sample: int = 0
    attempt: int = 1
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class LLMCallLog:
    """Append-only SQLite log in WAL mode, safe to share between threads (one connection per operation)."""

    PRUNE_EVERY = 100
    """Inserts between two prunes (a prune is one DELETE by age and one by count)."""

    def __init__(
        self,
        path: Path,
        secrets: Iterable[str | SecretStr] = (),
        *,
        max_chars: int = 16_000,
        keep_days: int = 30,
        max_rows: int = 20_000,
    ) -> None:
        self.path = Path(path)
        self._secrets = tuple(s if isinstance(s, SecretStr) else SecretStr(s) for s in secrets if s)
        self._lock = threading.Lock()
        self._ready = False
        self.max_chars, self.keep_days, self.max_rows = max_chars, keep_days, max_rows
        self._inserts = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> LLMCallLog:
        return cls(
            settings.data_dir / LOG_FILENAME,
            secrets=(settings.openai_api_key,) if settings.openai_api_key else (),
            max_chars=settings.llm_log_max_chars,
            keep_days=settings.llm_log_keep_days,
            max_rows=settings.llm_log_max_rows,
        )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def _ensure(self) -> None:
        if self._ready:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
        self._ready = True

    def record(self, call: LLMCall) -> None:
        """Write one call; a failure to log is reported as a warning and never breaks grading."""
        values = asdict(call)
        values["created_at"] = call.created_at.astimezone(UTC).isoformat(timespec="milliseconds")
        values["messages_json"] = self._cut(self._redact(json.dumps(list(call.messages), ensure_ascii=False)))
        for key in ("base_url", "error", "response_text"):
            values[key] = self._cut(self._redact(values[key]))
        values["latency_ms"] = round(float(call.latency_ms), 2)
        try:
            self._ensure()
            with self._lock, self._connect() as connection:
                connection.execute(
                    f"INSERT INTO llm_calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [values[column] for column in _COLUMNS],
                )
                self._inserts += 1
                if self._inserts % self.PRUNE_EVERY == 1:
                    self._prune(connection)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("could not write the LLM call log at %s: %s", self.path, exc)

    def _cut(self, text: str) -> str:
        """`text`, or its first `max_chars` characters with a marker saying how much was left out."""
        if len(text) <= self.max_chars:
            return text
        return f"{text[: self.max_chars]}… [cut: {len(text) - self.max_chars:,} more characters not logged]"

    def _prune(self, connection: sqlite3.Connection) -> None:
        """Drop rows older than `keep_days`, then the oldest rows beyond `max_rows`."""
        cutoff = datetime.now(UTC).timestamp() - self.keep_days * 86_400
        connection.execute(
            "DELETE FROM llm_calls WHERE created_at < ?",
            (datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="milliseconds"),),
        )
        connection.execute(
            "DELETE FROM llm_calls WHERE id <= (SELECT id FROM llm_calls ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.max_rows,),
        )

    def _redact(self, text: str | None) -> str:
        return redact(text, (s.get_secret_value() for s in self._secrets))

    def rows(self, since: datetime | None = None, question_id: str | None = None) -> list[dict[str, Any]]:
        """Logged calls, oldest first, optionally only those at or after `since` / for one question."""
        if not self.path.exists():
            return []
        self._ensure()
        clauses, params = [], []
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(_iso(since))
        if question_id is not None:
            clauses.append("question_id = ?")
            params.append(question_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as connection:
            cursor = connection.execute(f"SELECT * FROM llm_calls {where} ORDER BY id", params)
            return [dict(row) for row in cursor.fetchall()]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, description="USD per 1M prompt tokens")
    output: float = Field(ge=0, description="USD per 1M completion tokens")


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    currency: str = "USD"
    per_million_tokens: dict[str, Price]

    def price_for(self, model: str) -> Price | None:
        """The entry with the longest name that `model` starts with (dated snapshots share their family's price)."""
        name = model.lower().rsplit("/", 1)[-1]
        matches = [key for key in self.per_million_tokens if name.startswith(key.lower())]
        return self.per_million_tokens[max(matches, key=len)] if matches else None


@lru_cache(maxsize=4)
def load_prices(path: Path = SHIPPED_PROMPTS_DIR / PRICES_FILE) -> PriceTable:
    return validated(path, load_yaml_mapping(path), PriceTable.model_validate)


def estimate_cost(
    model: str, prompt_tokens: int, completion_tokens: int, prices: PriceTable | None = None
) -> tuple[float, str | None]:
    """(USD, note): unknown models, such as a local GGUF, cost 0 with a note saying the price is unknown."""
    prices = prices or load_prices()
    price = prices.price_for(model)
    if price is None:
        return 0.0, f"no price for '{model}' in llm_prices.yaml (a local model?): counted as 0 USD"
    cost = (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
    return round(cost, 6), None


def summarise_calls(
    since: datetime | None = None,
    *,
    settings: Settings | None = None,
    log: LLMCallLog | None = None,
    prices: PriceTable | None = None,
) -> dict[str, Any]:
    """Counts, tokens, mean latency and estimated cost of the logged calls, in total and per model.

    Calls without reported usage count towards `calls_without_usage`, so a zero token total is never mistaken for
    a free run. Give `settings` (the log and the prices under its prompts directory) or `log` (shipped prices).
    """
    if log is None:
        if settings is None:
            raise TypeError("summarise_calls needs settings or a log")
        log = LLMCallLog.for_settings(settings)
    if prices is None and settings is not None:
        prices = load_prices(settings.prompts_dir / PRICES_FILE)
    rows = log.rows(since=since)
    by_model: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_model.setdefault(
            row["model"],
            {
                "calls": 0,
                "ok": 0,
                "errors": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "calls_without_usage": 0,
                "_latencies": [],
            },
        )
        entry["calls"] += 1
        entry["ok" if row["status"] == "ok" else "errors"] += 1
        entry["_latencies"].append(row["latency_ms"])
        if row["prompt_tokens"] is None and row["completion_tokens"] is None:
            entry["calls_without_usage"] += 1
        entry["prompt_tokens"] += row["prompt_tokens"] or 0
        entry["completion_tokens"] += row["completion_tokens"] or 0
    notes: list[str] = []
    for model, entry in by_model.items():
        latencies = entry.pop("_latencies")
        entry["mean_latency_ms"] = round(sum(latencies) / len(latencies), 1)
        entry["cost_usd"], note = estimate_cost(model, entry["prompt_tokens"], entry["completion_tokens"], prices)
        if note:
            entry["cost_note"] = note
            notes.append(note)
    latencies = [row["latency_ms"] for row in rows]
    return {
        "calls": len(rows),
        "ok": sum(e["ok"] for e in by_model.values()),
        "errors": sum(e["errors"] for e in by_model.values()),
        "prompt_tokens": sum(e["prompt_tokens"] for e in by_model.values()),
        "completion_tokens": sum(e["completion_tokens"] for e in by_model.values()),
        "calls_without_usage": sum(e["calls_without_usage"] for e in by_model.values()),
        "mean_latency_ms": round(sum(latencies) / len(latencies), 1) if latencies else None,
        "cost_usd": round(sum(e["cost_usd"] for e in by_model.values()), 6),
        "by_model": by_model,
        "notes": notes,
    }
