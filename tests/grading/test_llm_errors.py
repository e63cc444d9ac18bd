"""Failures of the chat call, classified: what is retried, what is not, and the unscored grade's plain-words reason.

The calls go through the real ChatOpenAI client to a fake server, so the exceptions classified are the ones it raises.
"""

from __future__ import annotations

import pytest

from rag.grading.llm import LLMGrader
from rag.grading.service import grade_answer
from tests.conftest import free_port
from tests.grading.conftest import FAKE_KEY, GOOD_ANSWER, GOOD_REPLY, SleepRecorder, completion, error, log_rows, slow


def test_429_is_retried_with_backoff(fake_llm_server, http_grader, llm_settings, iam_question):
    fake_llm_server.queue(
        error(429, "slow down"), error(429, "slow down", {"retry-after": "3"}), completion(GOOD_REPLY)
    )
    grader = http_grader()
    grade = grader.grade(iam_question, GOOD_ANSWER)
    assert grade.status == "scored" and grade.score == 7.5
    assert grader.sleep.delays == [1.0, 3.0]
    rows = log_rows(llm_settings)
    assert [(r["status"], r["http_status"], r["attempt"]) for r in rows] == [
        ("error", 429, 1),
        ("error", 429, 2),
        ("ok", None, 3),
    ]
    assert (rows[2]["prompt_tokens"], rows[2]["completion_tokens"]) == (120, 40)


def test_a_failing_server_gives_unscored_never_zero(fake_llm_server, http_grader, iam_question):
    fake_llm_server.queue(*(error(500, "model crashed") for _ in range(3)))
    grader = http_grader()
    grade = grade_answer(iam_question, GOOD_ANSWER, grader, settings=grader.settings, passages=[])
    assert grade.status == "unscored" and grade.score is None
    assert grade.unscored_reason == (
        f"LLM server at {fake_llm_server.base_url} failed: HTTP 500: model crashed after 3 attempts"
    )
    assert "could not be graded" in grade.feedback
    assert len(fake_llm_server.requests) == 3
    assert grader.sleep.delays == [1.0, 2.0]


def test_connection_refused_is_unscored(llm_settings, iam_question):
    url = f"http://127.0.0.1:{free_port()}/v1"
    grader = LLMGrader(llm_settings.model_copy(update={"openai_base_url": url}), sleep=SleepRecorder())
    grade = grader.grade(iam_question, GOOD_ANSWER)
    assert grade.status == "unscored" and grade.score is None
    assert grade.unscored_reason == f"LLM server unreachable at {url} (connection refused) after 3 attempts"


def test_a_timeout_is_unscored(fake_llm_server, http_grader, iam_question):
    fake_llm_server.queue(slow(1.0, completion(GOOD_REPLY)))
    grade = http_grader(llm_timeout=0.2, llm_max_retries=0).grade(iam_question, GOOD_ANSWER)
    assert grade.status == "unscored"
    assert grade.unscored_reason.endswith("did not answer within 0.2s after 1 attempt")


def test_truncated_json_is_unscored(fake_llm_server, http_grader, llm_settings, iam_question):
    fake_llm_server.queue(*(completion(GOOD_REPLY[:80], finish_reason="length") for _ in range(2)))
    grade = http_grader(llm_max_retries=1).grade(iam_question, GOOD_ANSWER)
    assert grade.status == "unscored" and grade.score is None
    assert "cut off at max_tokens=256" in grade.unscored_reason
    rows = log_rows(llm_settings)
    assert rows[0]["response_text"] == GOOD_REPLY[:80]
    assert rows[0]["error"].startswith("truncated")


@pytest.mark.parametrize(("status", "reason"), [(401, "rejected the API key (HTTP 401)"), (404, "HTTP 404")])
def test_auth_and_missing_model_are_not_retried(fake_llm_server, http_grader, iam_question, status, reason):
    fake_llm_server.queue(error(status, f"Incorrect API key provided: {FAKE_KEY}"))
    grade = http_grader().grade(iam_question, GOOD_ANSWER)
    assert grade.status == "unscored"
    assert reason in grade.unscored_reason and "(not retried)" in grade.unscored_reason
    assert len(fake_llm_server.requests) == 1


def test_an_html_page_instead_of_the_api_is_one_clear_unscored_reason(fake_llm_server, http_grader, iam_question):
    from werkzeug import Response

    page = Response("<!doctype html><html><body>Welcome</body></html>", status=200, content_type="text/html")
    fake_llm_server.queue(page)
    grade = http_grader(llm_max_retries=0).grade(iam_question, GOOD_ANSWER)
    assert grade.status == "unscored" and grade.score is None
    assert "not an OpenAI-compatible JSON response" in grade.unscored_reason
    assert "has no attribute" not in grade.unscored_reason
