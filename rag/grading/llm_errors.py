"""Failures of one LLM call, classified: what kind, a plain-words detail, and whether another attempt can help.

`classify_error` turns the chat client's exceptions into an `LLMFailure` (a rejected `response_format` becomes
`FormatRejected`, which moves the grader on to the next output mode without counting as a failed attempt);
`unscored_reason` words the last failure for the grade that could not be scored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import openai

from rag.grading.llm_modes import OUTPUT_MODES, OutputMode

_FORMAT_REJECTED = re.compile(r"response_format|json_schema|json_object", re.IGNORECASE)


class LLMFailure(Exception):
    """One failed attempt, classified. `retryable` decides whether another attempt can help."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        retryable: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        response_text: str = "",
        usage: tuple[int | None, int | None] = (None, None),
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.http_status = http_status
        self.retry_after = retry_after
        self.response_text = response_text
        self.usage = usage


class FormatRejected(LLMFailure):
    """The server rejected this mode's `response_format`: the next mode is tried at once (no failed attempt)."""

    def __init__(self, detail: str, **details: Any) -> None:
        super().__init__("format-unsupported", detail, retryable=False, **details)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt can help: the retry condition of the grader's pipeline."""
    return isinstance(exc, LLMFailure) and exc.retryable


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def shorten(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def classify_error(exc: BaseException, mode: OutputMode) -> LLMFailure:
    """Turn a client exception into an LLMFailure with a plain-words detail."""
    if isinstance(exc, openai.LengthFinishReasonError):
        completion = exc.completion
        text = (completion.choices[0].message.content or "") if completion.choices else ""
        usage = completion.usage
        return LLMFailure(
            "truncated",
            "the reply was cut off at the max_tokens limit",
            retryable=True,
            response_text=text,
            usage=(usage.prompt_tokens, usage.completion_tokens) if usage else (None, None),
        )
    if isinstance(exc, openai.APITimeoutError):
        return LLMFailure("timeout", "timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        refused = any("refused" in str(e).lower() for e in _cause_chain(exc))
        detail = "connection refused" if refused else f"connection failed: {shorten(str(exc.__cause__ or exc), 120)}"
        return LLMFailure("connection", detail, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.response.text if exc.response is not None else ""
        message = shorten(re.sub(r"^Error code: \d+ - ", "", getattr(exc, "message", "") or str(exc)))
        common = {"http_status": status, "response_text": body}
        if status in (400, 422, 500) and mode != OUTPUT_MODES[-1] and _FORMAT_REJECTED.search(f"{message} {body}"):
            return FormatRejected(f"HTTP {status}: {message}", **common)
        if status == 429:
            return LLMFailure(
                "rate-limit", "HTTP 429 (rate limited)", retryable=True, retry_after=_retry_after(exc), **common
            )
        if status in (401, 403):
            return LLMFailure("auth", f"the server rejected the API key (HTTP {status})", retryable=False, **common)
        if status == 404:
            return LLMFailure("not-found", f"HTTP 404: {message}", retryable=False, **common)
        if status in (408, 409) or status >= 500:
            return LLMFailure("server", f"HTTP {status}: {message}", retryable=True, **common)
        return LLMFailure(
            "rejected", f"the server rejected the request (HTTP {status}): {message}", retryable=False, **common
        )
    if isinstance(exc, AttributeError | TypeError) and re.search(r"'str' object|has no attribute 'choices'", str(exc)):
        return LLMFailure(
            "not-openai",
            "the server replied with text or HTML, not an OpenAI-compatible JSON response; "
            "check that OPENAI_BASE_URL points at the API (usually ending in /v1), not a web page",
            retryable=False,
        )
    return LLMFailure("unexpected", f"{type(exc).__name__}: {shorten(str(exc))}", retryable=True)


def unscored_reason(failure: LLMFailure, attempts: int, *, endpoint: str, timeout: float, max_tokens: int) -> str:
    """The reason an unscored grade gives for `failure`, the last of `attempts` attempts at `endpoint`."""
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if not failure.retryable:
        tries = "(not retried)"
    if failure.kind == "connection":
        return f"LLM server unreachable at {endpoint} ({failure.detail}) {tries}"
    if failure.kind == "timeout":
        return f"LLM server at {endpoint} did not answer within {timeout:g}s {tries}"
    if failure.kind in ("rate-limit", "server", "auth", "not-found", "rejected", "format-unsupported"):
        return f"LLM server at {endpoint} failed: {failure.detail} {tries}"
    if failure.kind == "truncated":
        return f"the LLM's reply was cut off at max_tokens={max_tokens} before the JSON was complete {tries}"
    if failure.kind == "malformed":
        return f"the LLM's reply was not usable: {failure.detail} {tries}"
    if failure.kind == "schema":
        return f"the LLM's reply did not match the grading schema: {failure.detail} {tries}"
    return f"the LLM grader failed: {failure.detail} {tries}"
