"""What the LLM grader's model must reply: the `Judgement` model, the JSON schema derived from it, and the parse.

The schema goes to the server as `response_format` (in the form each output mode takes) and into the prompt;
`parse_reply` turns the raw reply text into a `Judgement` or an `LLMFailure`, never a partial grade.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from rag.grading.llm_errors import LLMFailure
from rag.grading.llm_modes import OutputMode
from rag.grading.result import Verdict
from rag.questions import Question

MAX_FEEDBACK_CHARS = 600
MAX_QUOTES = 3
MAX_QUOTE_CHARS = 200


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
