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
"""

from __future__ import annotations

import copy
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ConfigDict, ValidationError

from rag.errors import PrepError
from rag.grading.base import build_grade, unscored_grade
from rag.grading.guard import GuardRules, detect_injection, load_guard_rules
from rag.grading.judge import CONTRADICTS, ENTAILS, NEITHER, Judge, get_judge
from rag.grading.llm_log import LLMCall, LLMCallLog, redact
from rag.grading.result import Grade, KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.review import Reading, ReviewParams, load_review_params, review, sentence_of_unit
from rag.grading.rubric import PromptTemplate, Rubric, default_rubric, load_prompt
from rag.grading.text import Span, split_sentences
from rag.passage import Passage
from rag.questions import Question
from rag.settings import Settings, get_settings

logger = logging.getLogger(__name__)

PROMPT_NAME = "llm_grader"
DATAMARK = "^"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_FEEDBACK_CHARS = 600
MIN_FEEDBACK_WORDS = 4
MAX_QUOTES = 3
MAX_QUOTE_CHARS = 200
MIN_QUOTE_WORDS = 3
MIN_QUOTE_LETTERS = 12
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 8.0

NOTE_NOT_FOUND = "quoted words not found in the answer: no credit"
NOTE_NO_QUOTE = "no quote from the answer given: no credit"
NOTE_INJECTED = "quoted words are addressed to the grader, not an answer: no credit"
NOTE_CONTRADICTION_UNSUPPORTED = "quoted words not found in the answer: no penalty"

OutputMode = Literal["json_schema", "json_object+schema", "json_object"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("json_schema", "json_object+schema", "json_object")
_VERDICT_RANK = {Verdict.contradicted: 0, Verdict.missed: 1, Verdict.partly: 2, Verdict.covered: 3}
_WORD = re.compile(r"[^\W_]+")
_HTML_TAG = re.compile(r"<[^<>]{0,200}>")
_FORMAT_REJECTED = re.compile(r"response_format|json_schema|json_object", re.IGNORECASE)

_endpoint_modes: dict[str, int] = {}
_endpoint_lock = threading.Lock()


def forget_output_modes() -> None:
    """Forget every remembered structured-output fallback (tests; or after changing servers)."""
    with _endpoint_lock:
        _endpoint_modes.clear()


def output_mode_for(endpoint: str) -> OutputMode:
    """The structured-output mode this process currently uses for `endpoint`."""
    with _endpoint_lock:
        return OUTPUT_MODES[_endpoint_modes.get(endpoint, 0)]


def _downgrade_mode(endpoint: str, failed: OutputMode) -> None:
    """Remember that `endpoint` rejected `failed`: this process starts with the next mode from now on."""
    index = min(OUTPUT_MODES.index(failed) + 1, len(OUTPUT_MODES) - 1)
    with _endpoint_lock:
        _endpoint_modes[endpoint] = max(_endpoint_modes.get(endpoint, 0), index)
    logger.info("%s rejected response_format %s; using %s from now on", endpoint, failed, OUTPUT_MODES[index])


# ---------------------------------------------------------------------------------------------- reply schema


class KeyPointJudgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_point_id: str
    quotes: list[str]
    verdict: Verdict


class MisconceptionJudgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    misconception_id: str
    quote: str


class Judgement(BaseModel):
    """The model's reply: the one definition both of the schema sent to the server and of what a reply must be.

    Parsing is lenient where the schema sent is strict: unknown top-level keys (a "score" the model made up)
    are ignored, never used, and a reply without feedback or the injection flag still parses.
    """

    model_config = ConfigDict(extra="ignore")

    verdicts: list[KeyPointJudgement]
    misconceptions_found: list[MisconceptionJudgement]
    feedback: str = ""
    injection_suspected: bool = False


_ANNOTATIONS = frozenset({"title", "description", "default"})


def _strict(node: Any, defs: dict[str, Any]) -> Any:
    """A pydantic JSON schema node as strict json_schema mode wants it.

    References are inlined (small servers' grammar converters and the prompt read better without them),
    annotations dropped, and every object closed with all its properties required.
    """
    if isinstance(node, list):
        return [_strict(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _strict(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {"type": node["type"]} if "type" in node else {}
    for key, value in node.items():
        if key in _ANNOTATIONS or key in ("$defs", "type", "required", "additionalProperties"):
            continue
        if key == "properties":
            out[key] = {name: _strict(field, defs) for name, field in value.items()}
        else:
            out[key] = _strict(value, defs)
    if out.get("type") == "object":
        out["required"] = list(out.get("properties", {}))
        out["additionalProperties"] = False
    return out


def _reply_schema() -> dict[str, Any]:
    schema = Judgement.model_json_schema()
    return _strict(schema, schema.get("$defs", {}))


_REPLY_SCHEMA = _reply_schema()


def response_schema(question: Question, *, bounded: bool = False) -> dict[str, Any]:
    """The JSON schema of the reply (`Judgement`) for one question: key point and misconception ids are enums.

    `bounded` adds length limits, which llama.cpp turns into grammar rules that stop a small model from rambling
    (OpenAI's strict mode does not accept them all, so the json_schema mode goes without).
    """
    schema = copy.deepcopy(_REPLY_SCHEMA)
    fields = schema["properties"]
    verdicts, findings = fields["verdicts"], fields["misconceptions_found"]
    verdicts["items"]["properties"]["key_point_id"]["enum"] = [kp.id for kp in question.key_points]
    if question.misconceptions:
        findings["items"]["properties"]["misconception_id"]["enum"] = [m.id for m in question.misconceptions]
    if bounded:
        quotes = verdicts["items"]["properties"]["quotes"]
        quotes["maxItems"] = MAX_QUOTES
        quotes["items"]["maxLength"] = MAX_QUOTE_CHARS
        findings["items"]["properties"]["quote"]["maxLength"] = MAX_QUOTE_CHARS
        fields["feedback"]["maxLength"] = MAX_FEEDBACK_CHARS
        verdicts["minItems"] = verdicts["maxItems"] = len(question.key_points)
        findings["maxItems"] = len(question.misconceptions)
    return schema


def response_format_for(mode: OutputMode, question: Question) -> dict[str, Any]:
    if mode == "json_schema":
        schema = response_schema(question)
        return {"type": "json_schema", "json_schema": {"name": "key_point_grading", "strict": True, "schema": schema}}
    if mode == "json_object+schema":
        return {"type": "json_object", "schema": response_schema(question, bounded=True)}
    return {"type": "json_object"}


# ---------------------------------------------------------------------------------------------- evidence check


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int


class AnswerEvidence:
    """The answer as a word sequence, for checking quotes whatever their case, punctuation, quote marks or datamarks.

    Sentences that match a guard injection pattern are "tainted": quoting them earns nothing.
    """

    def __init__(self, answer: str, rules: GuardRules | None = None, not_evidence: Sequence[str] = ()) -> None:
        self.answer = answer
        self.words = [_Word(m.group().casefold(), m.start(), m.end()) for m in _WORD.finditer(answer)]
        self._texts = [w.text for w in self.words]
        self.tainted = _tainted_spans(answer, rules or load_guard_rules())
        self._not_evidence = {tuple(_words(text)) for text in not_evidence}

    @classmethod
    def for_question(cls, answer: str, question: Question) -> AnswerEvidence:
        """Key point and misconception ids are labels from the prompt: quoting one is never evidence."""
        ids = [kp.id for kp in question.key_points] + [m.id for m in question.misconceptions]
        return cls(answer, not_evidence=ids)

    def check(self, quote: str) -> Literal["found", "not-found", "too-short", "injected"]:
        fragments = [f for f in re.split(r"\.\.\.|…", quote) if _WORD.search(f)]
        words = [w for f in fragments for w in _words(f)]
        if len(words) < MIN_QUOTE_WORDS or sum(len(w) for w in words) < MIN_QUOTE_LETTERS:
            return "too-short"
        if tuple(words) in self._not_evidence:
            return "not-found"
        outcome: Literal["found", "injected"] = "found"
        for fragment in fragments:
            spans = self._find(_words(fragment))
            if not spans:
                return "not-found"
            if all(self._is_tainted(span) for span in spans):
                outcome = "injected"
        return outcome

    def locate_all(self, quotes: Sequence[str]) -> list[Span]:
        """Where each quote sits in the answer (first occurrence, from its first to its last fragment)."""
        found = []
        for quote in quotes:
            fragments = [f for f in re.split(r"\.\.\.|…", quote) if _WORD.search(f)]
            places = [self._find(_words(fragment)) for fragment in fragments]
            if places and all(places):
                start, end = places[0][0][0], max(places[-1][0][1], places[0][0][1])
                found.append(Span(start, end, self.answer[start:end]))
        return found

    def _find(self, needle: list[str]) -> list[tuple[int, int]]:
        n = len(needle)
        return [
            (self.words[i].start, self.words[i + n - 1].end)
            for i in range(len(self._texts) - n + 1)
            if self._texts[i : i + n] == needle
        ]

    def _is_tainted(self, span: tuple[int, int]) -> bool:
        return any(span[0] < end and start < span[1] for start, end in self.tainted)


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _tainted_spans(answer: str, rules: GuardRules) -> list[tuple[int, int]]:
    """Whole sentences around every injection-pattern match."""
    spans = []
    for pattern in rules.injection_patterns.values():
        for match in pattern.finditer(answer):
            before = max(answer.rfind(ch, 0, match.start()) for ch in ".!?\n")
            after = [i for i in (answer.find(ch, match.end()) for ch in ".!?\n") if i != -1]
            spans.append((before + 1, min(after) + 1 if after else len(answer)))
    return spans


# ---------------------------------------------------------------------------------------------- failures


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


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMFailure) and exc.retryable


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _short(text: str, limit: int = 300) -> str:
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
        detail = "connection refused" if refused else f"connection failed: {_short(str(exc.__cause__ or exc), 120)}"
        return LLMFailure("connection", detail, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.response.text if exc.response is not None else ""
        message = _short(re.sub(r"^Error code: \d+ - ", "", getattr(exc, "message", "") or str(exc)))
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
    return LLMFailure("unexpected", f"{type(exc).__name__}: {_short(str(exc))}", retryable=True)


# ---------------------------------------------------------------------------------------------- samples


@dataclass
class _Sample:
    """One validated, evidence-checked reply."""

    verdicts: dict[str, KeyPointVerdict]
    findings: dict[str, list[str]]
    feedback: str
    injection_suspected: bool
    adjusted: bool


@dataclass
class _Outcome:
    """One sample: the input of the grading pipeline, which every attempt updates."""

    question: Question
    answer: str
    passages: Sequence[Passage]
    evidence: AnswerEvidence
    index: int
    sample: _Sample | None = None
    failure: LLMFailure | None = None
    """The last attempt's failure; None once an attempt succeeds."""
    attempts: int = 0
    """Attempts in the current output mode (a rejected response_format starts the next mode at 1)."""
    latency_ms: float = 0.0


def parse_reply(text: str, finish_reason: str | None = None) -> Judgement:
    """Strict parse of the raw reply: no partial-JSON repair (a truncated reply must not become a grade)."""
    body = text.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fence:
        body = fence.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        if finish_reason == "length":
            raise LLMFailure("truncated", "the reply was cut off at the max_tokens limit", retryable=True) from exc
        raise LLMFailure(
            "malformed", f"the reply was not valid JSON ({exc.msg} at char {exc.pos})", retryable=True
        ) from exc
    if not isinstance(data, dict):
        raise LLMFailure("schema", f"the reply was a JSON {type(data).__name__}, not an object", retryable=True)
    try:
        return Judgement.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(reply)"
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise LLMFailure("schema", f"field '{where}': {first['msg']}{more}", retryable=True) from exc


def check_judgement(judgement: Judgement, question: Question, evidence: AnswerEvidence) -> _Sample:
    """Validate ids against the question, then check every quote against the answer."""
    known = {kp.id: kp for kp in question.key_points}
    given = [v.key_point_id for v in judgement.verdicts]
    problems = []
    if unknown := sorted(set(given) - known.keys()):
        problems.append(f"key point ids not in the question: {', '.join(unknown)}")
    if missing := [kp_id for kp_id in known if kp_id not in given]:
        problems.append(f"no verdict for key points: {', '.join(missing)}")
    if repeated := sorted({i for i in given if given.count(i) > 1}):
        problems.append(f"more than one verdict for: {', '.join(repeated)}")
    misconceptions = {m.id: m for m in question.misconceptions}
    if unknown_m := sorted({f.misconception_id for f in judgement.misconceptions_found} - misconceptions.keys()):
        problems.append(f"misconception ids not in the question: {', '.join(unknown_m)}")
    if problems:
        raise LLMFailure("schema", "; ".join(problems), retryable=True)

    adjusted = False
    verdicts: dict[str, KeyPointVerdict] = {}
    for item in judgement.verdicts:
        kp = known[item.key_point_id]
        verdict = item.verdict
        outcomes = {quote: evidence.check(quote) for quote in item.quotes if quote.strip()}
        good = [q.strip() for q, outcome in outcomes.items() if outcome == "found"]
        note = ""
        if verdict is not Verdict.missed and not good:
            if verdict is Verdict.contradicted:
                note = NOTE_CONTRADICTION_UNSUPPORTED
            elif not outcomes or set(outcomes.values()) == {"too-short"}:
                note = NOTE_NO_QUOTE
            elif "injected" in outcomes.values() and "not-found" not in outcomes.values():
                note = NOTE_INJECTED
            else:
                note = NOTE_NOT_FOUND
            verdict = Verdict.missed
            adjusted = True
        verdicts[kp.id] = KeyPointVerdict(
            key_point_id=kp.id,
            text=kp.text,
            weight=kp.weight,
            verdict=verdict,
            evidence=good if verdict is not Verdict.missed else [],
            note=note,
        )
    findings: dict[str, list[str]] = {}
    for finding in judgement.misconceptions_found:
        if evidence.check(finding.quote) == "found":
            findings.setdefault(finding.misconception_id, []).append(finding.quote.strip())
        else:
            adjusted = True
    return _Sample(verdicts, findings, judgement.feedback, judgement.injection_suspected, adjusted)


def combine_samples(
    question: Question, samples: Sequence[_Sample]
) -> tuple[list[KeyPointVerdict], list[MisconceptionFinding]]:
    """Majority verdict per key point (ties go to the lower credit); misconceptions found by a majority."""
    total = len(samples)
    verdicts = []
    for kp in question.key_points:
        votes = Counter(s.verdicts[kp.id].verdict for s in samples)
        winner, count = max(votes.items(), key=lambda item: (item[1], -_VERDICT_RANK[item[0]]))
        agreeing = [s.verdicts[kp.id] for s in samples if s.verdicts[kp.id].verdict is winner]
        evidence = list(dict.fromkeys(q for v in agreeing for q in v.evidence))
        notes = [v.note for v in agreeing if v.note]
        if total > 1:
            notes.append(f"{count} of {total} samples agreed")
        verdicts.append(
            agreeing[0].model_copy(
                update={
                    "evidence": evidence,
                    "note": "; ".join(notes),
                    "confidence": round(count / total, 3) if total > 1 else None,
                }
            )
        )
    findings = []
    for misconception in question.misconceptions:
        found_in = [s.findings[misconception.id] for s in samples if misconception.id in s.findings]
        if len(found_in) * 2 > total:
            findings.append(
                MisconceptionFinding(
                    misconception_id=misconception.id,
                    claim=misconception.claim,
                    correction=misconception.correction,
                    evidence=list(dict.fromkeys(q for quotes in found_in for q in quotes)),
                )
            )
    return verdicts, findings


def sanitise_feedback(text: str) -> str | None:
    """Model feedback fit to show: no HTML, at most 600 characters, nothing that reads like a grade demand."""
    text = " ".join(_HTML_TAG.sub(" ", text or "").split())
    if len(text.split()) < MIN_FEEDBACK_WORDS or detect_injection(text):
        return None
    if len(text) > MAX_FEEDBACK_CHARS:
        cut = text.rfind(" ", 0, MAX_FEEDBACK_CHARS - 1)
        text = text[: cut if cut > MAX_FEEDBACK_CHARS // 2 else MAX_FEEDBACK_CHARS - 1].rstrip(" ,;:") + "…"
    return text


# ---------------------------------------------------------------------------------------------- grader


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
    ) -> None:
        self.settings = settings or get_settings()
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
        self.rubric = rubric or default_rubric()
        self.prompt = prompt or load_prompt(PROMPT_NAME, self.settings.prompts_dir)
        self._pipelines = {mode: self._pipeline(mode) for mode in OUTPUT_MODES}

    def __repr__(self) -> str:
        return f"LLMGrader(model={self.model!r}, endpoint={self.endpoint!r})"

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            self._judge = get_judge()
        return self._judge

    def second_opinion(
        self, question: Question, evidence: AnswerEvidence, verdicts: Sequence[KeyPointVerdict]
    ) -> tuple[list[KeyPointVerdict], dict[str, int]]:
        """The verdicts after the judge's review of every credited quote, and how many it checked and disputed.

        The judge reads the whole sentence that holds a quote (the model may quote a fragment); of several
        quotes for one point, the sentence it reads most clearly as stating the point counts. Without
        selected review thresholds the judge only counts: credit is unchanged.
        """
        params = self.review_params
        credited = [v for v in verdicts if v.verdict in (Verdict.covered, Verdict.partly) and v.evidence]
        sentences = split_sentences(evidence.answer)
        located = {
            id(v): [sentence_of_unit(evidence.answer, sentences, span) for span in evidence.locate_all(v.evidence)]
            for v in credited
        }
        pairs = [(question.question, v.text, span.text) for v in credited for span in located[id(v)]]
        rows = iter(self.judge.probabilities(pairs))
        readings: dict[int, Reading] = {}
        disputed = 0
        for verdict in credited:
            judged = [(span, next(rows)) for span in located[id(verdict)]]
            if not judged:
                continue
            span, row = max(judged, key=lambda pair: pair[1][ENTAILS])
            disputed += not row[ENTAILS] >= max(row[CONTRADICTS], row[NEITHER])
            readings[id(verdict)] = Reading((), np.zeros((0, 3)), span, row)
        if params is not None:
            no_reading = Reading((), np.zeros((0, 3)))
            # Readings of quotes carry no near sentences, so only the credited-sentence rules can act.
            verdicts, _ = review(verdicts, [], [readings.get(id(v), no_reading) for v in verdicts], (), (), params)
        return list(verdicts), {"checked": len(credited), "disputed": disputed}

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

    def _pipeline(self, start: OutputMode) -> Runnable[_Outcome, _Sample]:
        """Attempts in `start` mode retried with backoff; a rejected response_format falls back to the next mode.

        The retries wait in `_attempt`, not in tenacity: that wait honours Retry-After and uses `self.sleep`.
        """

        def attempts_in(mode: OutputMode) -> Runnable[_Outcome, _Sample]:
            def attempt(outcome: _Outcome) -> _Sample:
                return self._attempt(outcome, mode)

            return RunnableLambda(attempt, name=f"llm_grade_{mode}").with_retry(
                retry_if_exception_type=_retryable,
                stop_after_attempt=1 + self.settings.llm_max_retries,
                wait_exponential_jitter=False,
            )

        first, *rest = (attempts_in(mode) for mode in OUTPUT_MODES[OUTPUT_MODES.index(start) :])
        return first.with_fallbacks(rest, exceptions_to_handle=(FormatRejected,)) if rest else first

    def _attempt(self, outcome: _Outcome, mode: OutputMode) -> _Sample:
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
                _downgrade_mode(self.endpoint, mode)
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

    def _reason(self, outcome: _Outcome) -> str:
        failure = outcome.failure
        assert failure is not None
        tries = f"after {outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}"
        if not failure.retryable:
            tries = "(not retried)"
        if failure.kind == "connection":
            return f"LLM server unreachable at {self.endpoint} ({failure.detail}) {tries}"
        if failure.kind == "timeout":
            return f"LLM server at {self.endpoint} did not answer within {self.settings.llm_timeout:g}s {tries}"
        if failure.kind in ("rate-limit", "server", "auth", "not-found", "rejected", "format-unsupported"):
            return f"LLM server at {self.endpoint} failed: {failure.detail} {tries}"
        if failure.kind == "truncated":
            return (
                f"the LLM's reply was cut off at max_tokens={self.settings.llm_max_tokens} before the JSON was "
                f"complete {tries}"
            )
        if failure.kind == "malformed":
            return f"the LLM's reply was not usable: {failure.detail} {tries}"
        if failure.kind == "schema":
            return f"the LLM's reply did not match the grading schema: {failure.detail} {tries}"
        return f"the LLM grader failed: {failure.detail} {tries}"

    def grade(self, question: Question, answer: str, passages: Sequence[Passage] = ()) -> Grade:
        """Never raises and never returns a 0 for a failure: an unusable LLM gives an unscored grade with the reason."""
        try:
            return self._grade(question, answer, passages)
        except Exception as exc:
            reason = self._redact(f"internal error in the LLM grader: {type(exc).__name__}: {_short(str(exc))}")
            logger.warning(reason)
            return unscored_grade(question, reason, grader=self.name, model=self.model, passages=passages)

    def _grade(self, question: Question, answer: str, passages: Sequence[Passage]) -> Grade:
        evidence = AnswerEvidence.for_question(answer, question)
        total = self.settings.llm_samples
        outcomes = [self._sample(question, answer, passages, evidence, i) for i in range(total)]
        llm_ms = round(sum(o.latency_ms for o in outcomes), 2)
        samples = [o.sample for o in outcomes if o.sample is not None]
        if len(samples) * 2 <= total:
            failed = next(o for o in outcomes if o.failure is not None)
            reason = self._reason(failed)
            if total > 1:
                reason = f"{total - len(samples)} of {total} samples failed; first: {reason}"
            grade = unscored_grade(
                question, self._redact(reason), grader=self.name, model=self.model, passages=passages
            )
            return grade.model_copy(update={"timings_ms": {**grade.timings_ms, "llm": llm_ms}})
        verdicts, findings = combine_samples(question, samples)
        agreement: dict[str, int] | None = None
        credited_before = {v.key_point_id for v in verdicts if v.verdict in (Verdict.covered, Verdict.partly)}
        try:
            verdicts, agreement = self.second_opinion(question, evidence, verdicts)
        except PrepError as exc:  # a missing or unverified judge must not cost the candidate the grade
            logger.warning("the judge's second opinion is unavailable: %s", exc)
        guard_signals = detect_injection(answer)
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
                    feedback = sanitise_feedback(sample.feedback)
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
        )
        discredited = sum(
            1 for v in verdicts if any(n in v.note for n in (NOTE_NOT_FOUND, NOTE_NO_QUOTE, NOTE_INJECTED))
        )
        notices = list(grade.notices)
        if discredited:
            notices.append(
                f"The grading model credited {discredited} key point(s) without quoting words from your answer "
                "that state them; they earned no credit."
            )
        credited_after = {v.key_point_id for v in verdicts if v.verdict in (Verdict.covered, Verdict.partly)}
        withdrawn = credited_before - credited_after
        if withdrawn:
            notices.append(
                f"An automated check read the sentences quoted for {len(withdrawn)} credited key point(s) as not "
                "stating them (or as stating the opposite); those points earned no credit."
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
