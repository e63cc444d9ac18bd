"""The LLM call log: every call stored with its tokens and latency, secrets redacted, summaries and cost for evals."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from rag.grading.llm_log import LLMCall, LLMCallLog, PriceTable, estimate_cost, load_prices, redact, summarise_calls

KEY = "sk-test-SECRET123"


def call(**overrides) -> LLMCall:
    values = {
        "grader": "llm",
        "model": "gpt-4o-mini",
        "base_url": "https://api.openai.com/v1",
        "messages": [{"role": "system", "content": "grade"}, {"role": "user", "content": "answer"}],
        "status": "ok",
        "latency_ms": 100.0,
        "response_text": '{"verdicts": []}',
        "question_id": "q1",
        "prompt_tokens": 1000,
        "completion_tokens": 200,
    }
    return LLMCall(**{**values, **overrides})


@pytest.fixture
def log(tmp_path) -> LLMCallLog:
    return LLMCallLog(tmp_path / "data" / "llm_calls.sqlite3", secrets=(KEY,))


def test_calls_are_stored_in_a_wal_database(log):
    log.record(call())
    log.record(
        call(
            status="error",
            error="timeout: timed out",
            http_status=None,
            attempt=2,
            prompt_tokens=None,
            completion_tokens=None,
            response_text="",
        )
    )
    rows = log.rows()
    assert [(r["status"], r["attempt"]) for r in rows] == [("ok", 1), ("error", 2)]
    assert rows[0]["messages_json"] == '[{"role": "system", "content": "grade"}, {"role": "user", "content": "answer"}]'
    assert rows[0]["prompt_tokens"] == 1000 and rows[1]["prompt_tokens"] is None
    assert rows[1]["error"] == "timeout: timed out"
    with sqlite3.connect(log.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_secrets_are_redacted_before_they_are_written(log):
    log.record(
        call(
            messages=[{"role": "user", "content": f"my key is {KEY} and another sk-proj-abcdef123456"}],
            response_text=f"echo {KEY}",
            error=f"401 Incorrect API key provided: sk-test-*****123; Authorization: Bearer {KEY}",
            base_url="https://user:hunter2@llm.example.com/v1",
        )
    )
    row = log.rows()[0]
    text = " ".join(str(v) for v in row.values())
    assert "SECRET123" not in text and "abcdef123456" not in text and "hunter2" not in text
    assert "*****123" not in text
    assert row["base_url"] == "https://[REDACTED]@llm.example.com/v1"
    stored = b"".join(p.read_bytes() for p in log.path.parent.glob("llm_calls.sqlite3*"))
    assert b"SECRET123" not in stored


def test_redact_leaves_ordinary_text_alone():
    assert redact("Use SSE-KMS keys; ask-me-anything is fine.") == "Use SSE-KMS keys; ask-me-anything is fine."
    assert redact(None) == ""
    assert redact("token abc", secrets=("abc",)) == "token abc"  # secrets under 4 characters are not redacted


def test_summary_counts_tokens_latency_and_cost(log):
    log.record(call(latency_ms=100))
    log.record(call(latency_ms=300, status="error", prompt_tokens=None, completion_tokens=None))
    log.record(call(model="smollm2-135m-instruct.gguf", latency_ms=50, prompt_tokens=500, completion_tokens=100))
    summary = summarise_calls(log=log)
    assert summary["calls"] == 3 and summary["ok"] == 2 and summary["errors"] == 1
    assert summary["prompt_tokens"] == 1500 and summary["completion_tokens"] == 300
    assert summary["calls_without_usage"] == 1
    assert summary["mean_latency_ms"] == 150.0
    mini = summary["by_model"]["gpt-4o-mini"]
    assert mini["calls"] == 2 and mini["mean_latency_ms"] == 200.0
    assert mini["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    local = summary["by_model"]["smollm2-135m-instruct.gguf"]
    assert local["cost_usd"] == 0.0 and "no price" in local["cost_note"]
    assert summary["cost_usd"] == pytest.approx(mini["cost_usd"])
    assert summary["notes"] == [local["cost_note"]]


def test_summary_since_a_moment(log):
    log.record(call(created_at=datetime.now(UTC) - timedelta(hours=2)))
    log.record(call())
    assert summarise_calls(datetime.now(UTC) - timedelta(hours=1), log=log)["calls"] == 1
    assert summarise_calls(log=log)["calls"] == 2


def test_an_empty_or_missing_log_summarises_to_zero(tmp_path):
    summary = summarise_calls(log=LLMCallLog(tmp_path / "none.sqlite3"))
    assert summary["calls"] == 0 and summary["mean_latency_ms"] is None and summary["cost_usd"] == 0


def test_prices_match_the_longest_model_prefix():
    prices = load_prices()
    assert prices.price_for("gpt-4o-mini-2024-07-18") == prices.per_million_tokens["gpt-4o-mini"]
    assert prices.price_for("gpt-4o-2024-08-06") == prices.per_million_tokens["gpt-4o"]
    assert prices.price_for("openai/gpt-4.1-mini") == prices.per_million_tokens["gpt-4.1-mini"]
    assert prices.price_for("llama-3-8b") is None
    cost, note = estimate_cost("gpt-4o", 1_000_000, 1_000_000, prices)
    assert cost == pytest.approx(12.5) and note is None


def test_the_price_table_rejects_unknown_fields():
    with pytest.raises(ValueError, match="extra"):
        PriceTable.model_validate({"as_of": "x", "per_million_tokens": {"m": {"input": 1, "output": 2, "cached": 0}}})


def test_a_log_that_cannot_be_written_never_breaks_grading(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    broken = LLMCallLog(blocked / "llm_calls.sqlite3")
    with caplog.at_level(logging.WARNING):
        broken.record(call())
    assert "could not write the LLM call log" in caplog.text


def test_a_huge_reply_is_cut_and_the_log_stays_bounded(tmp_path):
    bounded = LLMCallLog(tmp_path / "log.sqlite3", max_chars=1_000, keep_days=30, max_rows=100)
    bounded.record(call(response_text="x" * 20_000_000))
    stored = bounded.rows()[0]["response_text"]
    assert len(stored) < 1_100 and "more characters not logged" in stored
    for _ in range(250):
        bounded.record(call())
    assert len(bounded.rows()) <= 100 + LLMCallLog.PRUNE_EVERY
    assert (tmp_path / "log.sqlite3").stat().st_size < 2_000_000


def test_rows_older_than_the_keep_period_are_pruned(tmp_path):
    bounded = LLMCallLog(tmp_path / "log.sqlite3", keep_days=1)
    bounded.record(call(created_at=datetime.now(UTC) - timedelta(days=3), question_id="old"))
    for _ in range(LLMCallLog.PRUNE_EVERY):
        bounded.record(call(question_id="new"))
    assert "old" not in {row["question_id"] for row in bounded.rows()}
