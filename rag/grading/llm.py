"""The LLM grader: an OpenAI-compatible chat model gives per-key-point verdicts with quotes; code does the rest.

What the model may and may not decide:
- It returns JSON verdicts (covered / partly / missed / contradicted) with verbatim quotes, misconceptions it
  found, short feedback and whether the answer talks to the grader. It never chooses the score: `build_grade`
  computes it with the one scoring function.
- Every quote is checked against the answer. A covered/partly verdict whose quotes are not in the answer, or
  that quote only sentences addressed to the grader, is downgraded to missed; an invented misconception quote
  drops the finding.
- The judge then reads the sentence that holds each credited quote, with the offline grader's review
  thresholds (rag/grading/review.py): a sentence it reads as stating neither the point nor its opposite
  earns no credit, one it reads as contradicting the point makes it contradicted. The grade shows how
  many credited points the judge disputed (`Grade.second_opinion`).
- Anything unusable (server down, timeouts, 429/5xx, malformed or truncated JSON, unknown or missing key point
  ids, bad verdict values) is retried with exponential backoff (`Runnable.with_retry`) and then becomes an
  *unscored* grade with the reason. Never a 0.

Structured output: `response_format` `json_schema` first; servers that reject it (llama.cpp answers HTTP 500)
get `{"type": "json_object", "schema": ...}`, then plain `json_object` (`Runnable.with_fallbacks`). The fallback
is remembered per endpoint for the life of the process. The schema, derived from the `Judgement` reply model,
is also in the prompt, so every mode sees it.

Its parts: the reply model and schema (llm_reply.py), the quote checks and the judge's reading of credited quotes
(llm_evidence.py), failures and their reasons (llm_errors.py), the structured-output modes (llm_modes.py).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda

from rag.errors import PrepError
from rag.grading.base import build_grade, unscored_grade
from rag.grading.files import PromptFiles
from rag.grading.guard import detect_injection
from rag.grading.judge import Judge, get_judge
from rag.grading.language import looks_english
from rag.grading.llm_errors import (
    FormatRejected,
    LLMFailure,
    classify_error,
    is_retryable,
    shorten,
    unscored_reason,
)
from rag.grading.llm_evidence import (
    NOTE_INJECTED,
    NOTE_LISTED,
    NOTE_NO_QUOTE,
    NOTE_NOT_FOUND,
    AnswerEvidence,
    Sample,
    check_judgement,
    combine_samples,
    sanitise_feedback,
    second_opinion,
)
from rag.grading.llm_log import LLMCall, LLMCallLog, redact
from rag.grading.llm_modes import OUTPUT_MODES, OutputMode, downgrade_mode, output_mode_for
from rag.grading.llm_reply import parse_reply, response_format_for, response_schema
from rag.grading.match_params import default_params
from rag.grading.result import Grade
from rag.grading.review import ReviewParams, load_review_params
from rag.grading.rubric import PromptTemplate, Rubric
from rag.grading.wordlists import list_notice, word_lists
from rag.passage import Passage
from rag.questions import Question
from rag.settings import Settings, get_settings

logger = logging.getLogger(__name__)

PROMPT_NAME = "llm_grader"
DATAMARK = "^"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 8.0


@dataclass
class _Outcome:
    """One sample: the input of the grading pipeline, which every attempt updates."""

    question: Question
    answer: str
    passages: Sequence[Passage]
    evidence: AnswerEvidence
    index: int
    sample: Sample | None = None
    failure: LLMFailure | None = None
    """The last attempt's failure; None once an attempt succeeds."""
    attempts: int = 0
    """Attempts in the current output mode (a rejected response_format starts the next mode at 1)."""
    latency_ms: float = 0.0


def _is_openai_host(base_url: str | None) -> bool:
    return not base_url or "api.openai.com" in base_url


class LLMGrader:
    """Grades with an OpenAI-compatible chat model (OpenAI, or a local llama.cpp / vLLM / LM Studio server)."""

    name = "llm"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        chat_model: BaseChatModel | None = None,
        call_log: LLMCallLog | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rubric: Rubric | None = None,
        prompt: PromptTemplate | None = None,
        judge: Judge | None = None,
        review_params: ReviewParams | None = None,
        files: PromptFiles | None = None,
    ) -> None:
        """`files` default to the prompts directory in `settings`; a given `rubric` or `prompt` is used as it is."""
        self.settings = settings or get_settings()
        self.files = files or PromptFiles.from_settings(self.settings)
        self._judge = judge
        self.review_params = review_params or load_review_params()
        """The judge's thresholds for withdrawing credit; None: the judge only counts disputes."""
        self.model = self.settings.llm_model
        self.base_url = self.settings.openai_base_url or OPENAI_DEFAULT_BASE_URL
        self.endpoint = redact(self.base_url)
        self._secret = self.settings.openai_api_key
        self._openai_host = _is_openai_host(self.settings.openai_base_url)
        self._chat = chat_model or self._make_chat_model()
        self.call_log = call_log or LLMCallLog.for_settings(self.settings)
        self.sleep = sleep
        self.rubric = rubric or self.files.rubric()
        self.prompt = prompt or self.files.prompt(PROMPT_NAME)
        self._pipelines = {mode: self._pipeline(mode) for mode in OUTPUT_MODES}

    def __repr__(self) -> str:
        return f"LLMGrader(model={self.model!r}, endpoint={self.endpoint!r})"

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            self._judge = get_judge()
        return self._judge

    def _make_chat_model(self) -> BaseChatModel:
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        return ChatOpenAI(
            model=self.model,
            api_key=self.settings.openai_api_key or SecretStr("not-needed"),
            base_url=self.settings.openai_base_url,
            temperature=0,
            timeout=self.settings.llm_timeout,
            max_retries=0,
            # Other servers get `max_tokens` in the request body (llama.cpp ignores max_completion_tokens).
            max_tokens=self.settings.llm_max_tokens if self._openai_host else None,
        )

    @property
    def output_mode(self) -> OutputMode:
        return output_mode_for(self.endpoint)

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based): 1, 2, 4, 8, 8, ...; no jitter."""
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        return max(delay, min(retry_after, BACKOFF_CAP_S)) if retry_after else delay

    def _redact(self, text: str) -> str:
        return redact(text, (self._secret.get_secret_value(),) if self._secret else ())

    # -- prompt

    def build_messages(self, question: Question, answer: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
        boundary = "ANSWER_" + secrets.token_hex(8)
        while boundary in answer:
            boundary = "ANSWER_" + secrets.token_hex(8)
        system, user = self.prompt.render(
            verdict_definitions="\n".join(
                f"- {name}: {rule.description}" for name, rule in self.rubric.verdicts.items()
            ),
            datamark=DATAMARK,
            boundary=boundary,
            output_schema=json.dumps(response_schema(question)),
            question=question.question,
            key_points=json.dumps(
                [{"id": kp.id, "text": kp.text, "weight": kp.weight} for kp in question.key_points], ensure_ascii=False
            ),
            misconceptions=json.dumps(
                [{"id": m.id, "claim": m.claim} for m in question.misconceptions], ensure_ascii=False
            ),
            passages=json.dumps([{"title": p.title, "text": p.text} for p in passages], ensure_ascii=False),
            answer=re.sub(r"\s+", DATAMARK, answer.strip()),
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    # -- one HTTP call

    def _call(
        self, messages: list[dict[str, str]], question: Question, mode: OutputMode, seed: int
    ) -> tuple[str, str | None, tuple[int | None, int | None]]:
        extra_body: dict[str, Any] = {}
        if not self._openai_host:
            extra_body["max_tokens"] = self.settings.llm_max_tokens
            if mode != "json_schema":
                # Greedy is what temperature 0 means anyway; it also makes llama.cpp's grammar sampling ~30x faster.
                extra_body["top_k"] = 1
        bound = self._chat.bind(
            response_format=response_format_for(mode, question),
            seed=seed,
            **({"extra_body": extra_body} if extra_body else {}),
        )
        lc_messages = [SystemMessage(messages[0]["content"]), HumanMessage(messages[1]["content"])]
        try:
            reply = bound.invoke(lc_messages)
        except Exception as exc:
            raise classify_error(exc, mode) from exc
        if not isinstance(reply, AIMessage):
            raise LLMFailure("unexpected", f"the chat model returned {type(reply).__name__}", retryable=True)
        text = (
            reply.content
            if isinstance(reply.content, str)
            else "".join(block.get("text", "") if isinstance(block, dict) else str(block) for block in reply.content)
        )
        usage = reply.usage_metadata or {}
        finish = (reply.response_metadata or {}).get("finish_reason")
        return text, finish, (usage.get("input_tokens"), usage.get("output_tokens"))

    # -- the pipeline: attempts, retries, fallbacks

    def _pipeline(self, start: OutputMode) -> Runnable[_Outcome, Sample]:
        """Attempts in `start` mode retried with backoff; a rejected response_format falls back to the next mode.

        The retries wait in `_attempt`, not in tenacity: that wait honours Retry-After and uses `self.sleep`.
        """

        def attempts_in(mode: OutputMode) -> Runnable[_Outcome, Sample]:
            def attempt(outcome: _Outcome) -> Sample:
                return self._attempt(outcome, mode)

            return RunnableLambda(attempt, name=f"llm_grade_{mode}").with_retry(
                retry_if_exception_type=is_retryable,
                stop_after_attempt=1 + self.settings.llm_max_retries,
                wait_exponential_jitter=False,
            )

        first, *rest = (attempts_in(mode) for mode in OUTPUT_MODES[OUTPUT_MODES.index(start) :])
        return first.with_fallbacks(rest, exceptions_to_handle=(FormatRejected,)) if rest else first

    def _attempt(self, outcome: _Outcome, mode: OutputMode) -> Sample:
        """One logged call in `mode` and the checks of its reply; raises LLMFailure.

        A retry of a failed attempt first waits `retry_delay`.
        """
        previous = outcome.failure
        if previous is not None and previous.retryable:
            self.sleep(self.retry_delay(outcome.attempts, previous.retry_after))
            outcome.attempts += 1
        else:
            outcome.attempts = 1
        question = outcome.question
        messages = self.build_messages(question, outcome.answer, outcome.passages)
        started = time.perf_counter()
        text, finish, usage, failure, sample = "", None, (None, None), None, None
        try:
            text, finish, usage = self._call(messages, question, mode, self.settings.llm_seed + outcome.index)
            sample = check_judgement(parse_reply(text, finish), question, outcome.evidence)
        except LLMFailure as exc:
            failure = exc
            text = text or exc.response_text
            usage = usage if usage != (None, None) else exc.usage
        latency = (time.perf_counter() - started) * 1000
        outcome.latency_ms += latency
        self.call_log.record(
            LLMCall(
                grader=self.name,
                model=self.model,
                base_url=self.endpoint,
                messages=messages,
                status="error" if failure else "ok",
                latency_ms=latency,
                response_text=text,
                error=f"{failure.kind}: {failure.detail}" if failure else "",
                http_status=failure.http_status if failure else None,
                mode=mode,
                question_id=question.id,
                sample=outcome.index,
                attempt=outcome.attempts,
                prompt_tokens=usage[0],
                completion_tokens=usage[1],
            )
        )
        outcome.failure = failure
        if failure is not None:
            if isinstance(failure, FormatRejected):
                downgrade_mode(self.endpoint, mode)
            raise failure
        assert sample is not None
        return sample

    def _sample(
        self, question: Question, answer: str, passages: Sequence[Passage], evidence: AnswerEvidence, index: int
    ) -> _Outcome:
        outcome = _Outcome(question, answer, passages, evidence, index)
        try:
            outcome.sample = self._pipelines[self.output_mode].invoke(outcome)
        except LLMFailure as exc:
            outcome.failure = exc
        return outcome

    def grade(self, question: Question, answer: str, passages: Sequence[Passage] = ()) -> Grade:
        """Never raises and never returns a 0 for a failure: an unusable LLM gives an unscored grade with the reason."""
        try:
            return self._grade(question, answer, passages)
        except Exception as exc:
            reason = self._redact(f"internal error in the LLM grader: {type(exc).__name__}: {shorten(str(exc))}")
            logger.warning(reason)
            return unscored_grade(question, reason, grader=self.name, model=self.model, passages=passages)

    def _grade(self, question: Question, answer: str, passages: Sequence[Passage]) -> Grade:
        listed = word_lists(answer, self.files.lexicon(), default_params().word_lists, english=looks_english(answer))
        evidence = AnswerEvidence.for_question(answer, question, self.files.guard_rules(), listed)
        total = self.settings.llm_samples
        outcomes = [self._sample(question, answer, passages, evidence, i) for i in range(total)]
        llm_ms = round(sum(o.latency_ms for o in outcomes), 2)
        samples = [o.sample for o in outcomes if o.sample is not None]
        if len(samples) * 2 <= total:
            failed = next(o for o in outcomes if o.failure is not None)
            assert failed.failure is not None
            reason = unscored_reason(
                failed.failure,
                failed.attempts,
                endpoint=self.endpoint,
                timeout=self.settings.llm_timeout,
                max_tokens=self.settings.llm_max_tokens,
            )
            if total > 1:
                reason = f"{total - len(samples)} of {total} samples failed; first: {reason}"
            grade = unscored_grade(
                question, self._redact(reason), grader=self.name, model=self.model, passages=passages
            )
            return grade.model_copy(update={"timings_ms": {**grade.timings_ms, "llm": llm_ms}})
        verdicts, findings = combine_samples(question, samples)
        agreement: dict[str, int] | None = None
        credited_before = {v.key_point_id for v in verdicts if v.credited}
        try:
            verdicts, agreement = second_opinion(self.judge, self.review_params, question, evidence, verdicts)
        except PrepError as exc:  # a missing or unverified judge must not cost the candidate the grade
            logger.warning("the judge's second opinion is unavailable: %s", exc)
        guard_signals = detect_injection(answer, self.files.guard_rules())
        feedback = None
        if not guard_signals:
            final = {v.key_point_id: v.verdict for v in verdicts}
            final_m = {f.misconception_id for f in findings}
            for sample in samples:
                if (
                    not sample.adjusted
                    and {k: v.verdict for k, v in sample.verdicts.items()} == final
                    and set(sample.findings) == final_m
                ):
                    feedback = sanitise_feedback(sample.feedback, self.files.guard_rules())
                    break
        grade = build_grade(
            question,
            verdicts,
            findings,
            grader=self.name,
            model=self.model,
            passages=passages,
            feedback=feedback,
            rubric=self.rubric,
            templates=self.files.feedback(),
        )
        discredited = sum(
            1 for v in verdicts if any(n in v.note for n in (NOTE_NOT_FOUND, NOTE_NO_QUOTE, NOTE_INJECTED, NOTE_LISTED))
        )
        notices = list(grade.notices)
        if listed:
            notices.append(list_notice(listed[0].text, self.files.feedback()))
        if discredited:
            notices.append(
                f"The grading model credited {discredited} key point(s) without quoting words from your answer "
                "that state them; they earned no credit."
            )
        credited_after = {v.key_point_id for v in verdicts if v.credited}
        withdrawn = credited_before - credited_after
        disputed = sum(1 for v in verdicts if v.disputed)
        if disputed:
            notices.append(
                f"The grading model credited {disputed} key point(s) that an automated check does not read your "
                "quoted sentences as stating; they are marked disputed and earned no credit. State each point "
                "in one sentence of its own to be sure it counts."
            )
        if len(withdrawn) > disputed:
            notices.append(
                f"An automated check read the sentences quoted for {len(withdrawn) - disputed} credited key "
                "point(s) as not stating them (or as stating the opposite); those points earned no credit."
            )
        signals = list(grade.injection_signals)
        if sum(s.injection_suspected for s in samples) * 2 > len(samples):
            signals.append("llm-flagged")
        return grade.model_copy(
            update={
                "notices": notices,
                "second_opinion": agreement,
                "injection_signals": signals,
                "timings_ms": {**grade.timings_ms, "llm": llm_ms},
            }
        )
