"""Eval-set loading and validation: every error names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.sets import EvalSetError, load_set_file, load_sets, resolve_set_paths

from .conftest import FIXTURES

QUESTIONS = ["q-one", "q-two"]


def record(**overrides) -> dict:
    base = {"id": "r1", "question_id": "q-one", "answer": "alpha", "gold_score": 5, "tier": "partial",
            "group": None, "kind": "plain", "base_id": None, "label_note": ""}
    base.update(overrides)
    return base


def write(tmp_path: Path, records: list[dict], name: str = "team-test.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_fixture_set_loads():
    sets = load_sets([str(FIXTURES / "team-tiny.jsonl")], QUESTIONS)
    assert len(sets[0].records) == 12
    assert sets[0].records[2].line == 3


def test_duplicate_id(tmp_path):
    path = write(tmp_path, [record(), record(answer="beta")])
    with pytest.raises(EvalSetError, match=r"team-test.jsonl:2: field 'id': duplicate id 'r1' \(first at .*:1\)"):
        load_sets([str(path)], QUESTIONS)


@pytest.mark.parametrize("gold, message", [(11, "less than or equal to 10"), (-1, "greater than or equal to 0"),
                                           (3.3, "multiple of 0.5")])
def test_bad_gold_score(tmp_path, gold, message):
    path = write(tmp_path, [record(), record(id="r2", gold_score=gold)])
    with pytest.raises(EvalSetError, match=rf"team-test.jsonl:2: field 'gold_score': .*{message}"):
        load_set_file(path)


def test_unknown_question_id(tmp_path):
    path = write(tmp_path, [record(question_id="no-such-question")])
    with pytest.raises(EvalSetError, match=r":1: field 'question_id': unknown question id 'no-such-question'"):
        load_sets([str(path)], QUESTIONS)


def test_padded_answer_needs_base_id(tmp_path):
    path = write(tmp_path, [record(kind="padded")])
    with pytest.raises(EvalSetError, match=r":1: field '\(record\)': Value error, a padded answer needs base_id"):
        load_set_file(path)


def test_base_id_must_exist(tmp_path):
    path = write(tmp_path, [record(), record(id="r2", kind="adversarial", base_id="missing")])
    with pytest.raises(EvalSetError, match=r":2: field 'base_id': no answer has id 'missing'"):
        load_sets([str(path)], QUESTIONS)


def test_base_id_must_answer_the_same_question(tmp_path):
    path = write(tmp_path, [record(), record(id="r2", question_id="q-two", kind="padded", base_id="r1")])
    with pytest.raises(EvalSetError, match=r":2: field 'base_id': 'r1' answers another question"):
        load_sets([str(path)], QUESTIONS)


def test_unknown_field_and_bad_tier(tmp_path):
    with pytest.raises(EvalSetError, match=r":1: field 'score': Extra inputs are not permitted"):
        load_set_file(write(tmp_path, [record(score=3)]))
    with pytest.raises(EvalSetError, match=r":1: field 'tier'"):
        load_set_file(write(tmp_path, [record(tier="great")]))


def test_bad_json_line(tmp_path):
    path = tmp_path / "team-bad.jsonl"
    path.write_text(json.dumps(record()) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match=r"team-bad.jsonl:2: not valid JSON"):
        load_set_file(path)


def test_yaml_set_reports_the_line_of_the_bad_record(tmp_path):
    path = tmp_path / "team-yaml.yaml"
    path.write_text(
        "answers:\n"
        "  - {id: y1, question_id: q-one, answer: alpha, gold_score: 5, tier: partial, kind: plain}\n"
        "  - id: y2\n    question_id: q-one\n    answer: beta\n"
        "    gold_score: 12\n    tier: partial\n    kind: plain\n",
        encoding="utf-8",
    )
    with pytest.raises(EvalSetError, match=r"team-yaml.yaml:3: field 'gold_score'"):
        load_set_file(path)


def test_unknown_set_name(tmp_path):
    write(tmp_path, [record()], name="team-known.jsonl")
    with pytest.raises(EvalSetError, match=r"unknown eval set 'team-nope'.*available: team-known"):
        resolve_set_paths(["team-nope"], tmp_path)
    assert resolve_set_paths([], tmp_path) == [tmp_path / "team-known.jsonl"]
    assert resolve_set_paths(["team-known"], tmp_path) == [tmp_path / "team-known.jsonl"]
