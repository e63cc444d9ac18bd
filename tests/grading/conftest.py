"""Fixtures for the grading tests: the offline grader, and for the LLM grader a small question, settings with a
fake key, fake chat models and a fake HTTP server."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from werkzeug import Request, Response

from rag.grading.llm import LLMGrader
from rag.grading.llm_log import LOG_FILENAME
from rag.grading.llm_modes import forget_output_modes
from rag.grading.offline import OfflineGrader
from rag.grading.result import KeyPointVerdict
from rag.questions import KeyPoint, Misconception, Question
from rag.settings import Settings

FAKE_KEY = "sk-test-SECRET123"
LLAMA_CPP_JSON_SCHEMA_ERROR = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


@pytest.fixture(scope="module")
def grader(embedder) -> OfflineGrader:
    """The offline grader with the shipped parameters, one per test module."""
    return OfflineGrader()


@pytest.fixture(autouse=True)
def _fresh_output_modes():
    forget_output_modes()
    yield
    forget_output_modes()


@pytest.fixture
def iam_question() -> Question:
    return Question(
        id="iam-eval-test",
        topic="security",
        level="associate",
        question="How does AWS decide whether a request is allowed when several IAM policies apply?",
        key_points=(
            KeyPoint(
                id="implicit-deny", text="Every request is denied unless a policy explicitly allows it.", weight=3
            ),
            KeyPoint(id="explicit-deny", text="An explicit deny in any policy overrides every allow.", weight=3),
            KeyPoint(
                id="guardrails", text="SCPs and permissions boundaries cap permissions but grant nothing.", weight=2
            ),
        ),
        misconceptions=(
            Misconception(
                id="allow-beats-deny",
                claim="If any policy allows the action, it goes through even if another policy denies it.",
                correction="An explicit deny always wins over any allow.",
            ),
        ),
        model_answer="Implicit deny by default; an explicit deny wins; SCPs and boundaries only cap permissions.",
        sources=("iam-policies",),
    )


EXPLICIT_DENY_QUOTE = "An explicit deny in any policy overrides any allow"
"""GOOD_ANSWER's sentence for the explicit-deny point, as a grading model would quote it."""

GOOD_ANSWER = (
    "Every request starts as an implicit deny unless some policy explicitly allows it.\n"
    f"{EXPLICIT_DENY_QUOTE}. I would also check CloudTrail."
)


@pytest.fixture(scope="module")
def bank_statements(question_bank) -> list[str]:
    """Every statement the bank writes out: model answers, key points and their paraphrases (notes-style
    ones included), misconception claims, their paraphrases and corrections."""
    return [
        text
        for question in question_bank.questions
        for text in (
            question.model_answer,
            *(kp.text for kp in question.key_points),
            *(p for kp in question.key_points for p in kp.paraphrases),
            *(m.claim for m in question.misconceptions),
            *(p for m in question.misconceptions for p in m.paraphrases),
            *(m.correction for m in question.misconceptions),
        )
    ]


def without_paraphrases(question: Question) -> Question:
    """The question with its key points' own text only: for tests of how that text is read."""
    points = tuple(kp.model_copy(update={"paraphrases": ()}) for kp in question.key_points)
    return question.model_copy(update={"key_points": points})


def verdict(key_point_id: str, verdict: str, *quotes: str) -> dict[str, Any]:
    return {"key_point_id": key_point_id, "quotes": list(quotes), "verdict": verdict}


def reply(
    verdicts: Iterable[dict[str, Any]],
    misconceptions: Iterable[dict[str, str]] = (),
    feedback: str = "You explained implicit and explicit deny well; add how SCPs cap permissions.",
    injection: bool = False,
    **extra: Any,
) -> str:
    """A reply in the shape the prompt asks for, as the model would send it."""
    return json.dumps(
        {
            "verdicts": list(verdicts),
            "misconceptions_found": list(misconceptions),
            "feedback": feedback,
            "injection_suspected": injection,
            **extra,
        }
    )


GOOD_REPLY = reply(
    [
        verdict("implicit-deny", "covered", "starts as an implicit deny unless some policy explicitly allows it"),
        verdict("explicit-deny", "covered", EXPLICIT_DENY_QUOTE),
        verdict("guardrails", "missed"),
    ]
)


@pytest.fixture
def llm_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        openai_api_key=FAKE_KEY,
        openai_base_url="http://127.0.0.1:9/v1",
        llm_model="test-model",
        llm_max_retries=2,
        llm_timeout=5,
        llm_max_tokens=256,
        _env_file=None,
    )


def by_id(grade) -> dict[str, KeyPointVerdict]:
    return {v.key_point_id: v for v in grade.key_points}


def log_rows(settings) -> list[dict[str, Any]]:
    """The rows of the LLM call log, oldest first."""
    with sqlite3.connect(settings.data_dir / LOG_FILENAME) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute("SELECT * FROM llm_calls ORDER BY id")]


class SleepRecorder:
    """Stands in for time.sleep: records the backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def fake_grader(llm_settings: Settings) -> Callable[..., LLMGrader]:
    """An LLMGrader on LangChain's GenericFakeChatModel replying with the given texts, in order."""

    def make(*replies: str | AIMessage, settings: Settings | None = None) -> LLMGrader:
        model = GenericFakeChatModel(messages=iter(list(replies)))
        return LLMGrader(settings or llm_settings, chat_model=model, sleep=SleepRecorder())

    return make


# ------------------------------------------------------------------------------------------ fake HTTP server


def completion(content: str, *, finish_reason: str = "stop", usage: tuple[int, int] | None = (120, 40)) -> Response:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return Response(json.dumps(body), status=200, content_type="application/json")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": "error", "param": None, "code": None}}
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def slow(seconds: float, then: Response) -> Callable[[Request], Response]:
    def handler(_request: Request) -> Response:
        time.sleep(seconds)
        return then

    return handler


class FakeLLMServer:
    """An OpenAI-compatible /v1/chat/completions endpoint that answers from a queue of replies.

    An empty queue answers HTTP 418, so a test that makes more calls than it expects fails visibly.
    """

    def __init__(self, httpserver) -> None:
        self.httpserver = httpserver
        self.replies: deque[Response | Callable[[Request], Response]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.httpserver.url_for("/v1")

    def queue(self, *replies: Response | Callable[[Request], Response]) -> FakeLLMServer:
        self.replies.extend(replies)
        return self

    def _handle(self, request: Request) -> Response:
        self.requests.append(request.get_json(silent=True) or {})
        self.headers.append(dict(request.headers))
        if not self.replies:
            return error(418, "fake server: no reply queued")
        item = self.replies.popleft()
        return item(request) if callable(item) and not isinstance(item, Response) else item


@pytest.fixture
def fake_llm_server(httpserver) -> FakeLLMServer:
    return FakeLLMServer(httpserver)


@pytest.fixture
def http_grader(fake_llm_server: FakeLLMServer, llm_settings: Settings) -> Callable[..., LLMGrader]:
    """An LLMGrader talking to the fake server through the real ChatOpenAI client."""

    def make(**overrides: Any) -> LLMGrader:
        settings = llm_settings.model_copy(update={"openai_base_url": fake_llm_server.base_url, **overrides})
        return LLMGrader(settings, sleep=SleepRecorder())

    return make
