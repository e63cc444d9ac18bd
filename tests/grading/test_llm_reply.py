"""The LLM grader's reply model: the schema sent to the server is derived from `Judgement`, never written twice."""

from __future__ import annotations

import json

from rag.grading.llm_reply import Judgement, KeyPointJudgement, response_schema
from rag.grading.result import Verdict
from tests.grading.conftest import GOOD_REPLY


def test_the_schema_matches_the_reply_model(iam_question):
    schema = response_schema(iam_question)
    item = schema["properties"]["verdicts"]["items"]
    assert item["properties"]["key_point_id"]["enum"] == ["implicit-deny", "explicit-deny", "guardrails"]
    assert set(schema["required"]) == {"verdicts", "misconceptions_found", "feedback", "injection_suspected"}
    assert item["additionalProperties"] is False and schema["additionalProperties"] is False
    no_misconceptions = iam_question.model_copy(update={"misconceptions": ()})
    misconception_id = response_schema(no_misconceptions)["properties"]["misconceptions_found"]["items"]
    assert "enum" not in misconception_id["properties"]["misconception_id"]
    # Derived from the reply model, not written out again: its fields and the Verdict values, nothing else.
    assert list(schema["properties"]) == list(Judgement.model_fields)
    assert list(item["properties"]) == list(KeyPointJudgement.model_fields)
    assert item["properties"]["verdict"]["enum"] == [v.value for v in Verdict]
    assert "$ref" not in json.dumps(schema) and '"title"' not in json.dumps(schema)
    # A reply that fills every field the schema asks for parses with the same model.
    assert Judgement.model_validate_json(GOOD_REPLY).model_dump(mode="json") == json.loads(GOOD_REPLY)
