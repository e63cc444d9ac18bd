from pathlib import Path

import pytest
import yaml

from rag.corpus import load_corpus
from rag.errors import QuestionBankError
from rag.questions import load_question_bank
from rag.settings import PROJECT_ROOT

GOOD = {
    "id": "q-one",
    "topic": "networking",
    "level": "associate",
    "question": "What is a security group?",
    "key_points": [{"id": "kp", "text": "Security groups are stateful.", "weight": 2}],
    "misconceptions": [{"id": "m", "claim": "They are stateless.", "correction": "They are stateful."}],
    "model_answer": "A stateful firewall.",
    "sources": ["sg"],
    "follow_ups": ["And NACLs?"],
}


def write_bank(tmp_path: Path, questions: list[dict]) -> Path:
    path = tmp_path / "questions.yaml"
    path.write_text(yaml.safe_dump({"questions": questions}))
    return path


def test_the_real_bank_is_valid_and_covers_every_section(question_bank):
    sections = load_corpus(PROJECT_ROOT / "corpus")
    bank = load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml", [s.id for s in sections])
    assert len(bank.questions) >= 60
    assert {s.id for s in sections} <= {src for q in bank.questions for src in q.sources}
    assert {q.level.value for q in bank.questions} == {"associate", "professional", "architect"}
    for question in bank.questions:
        assert 3 <= len(question.key_points) <= 7
        assert question.misconceptions and 1 <= len(question.follow_ups) <= 2


def test_a_valid_bank_loads(tmp_path):
    bank = load_question_bank(write_bank(tmp_path, [GOOD]), ["sg"])
    assert bank.get("q-one").total_weight == 2


def test_key_points_may_list_paraphrases(tmp_path):
    point = {
        "id": "kp",
        "text": "Security groups are stateful.",
        "paraphrases": [" SGs track connections, so replies flow back. "],
    }
    bank = load_question_bank(write_bank(tmp_path, [{**GOOD, "key_points": [point]}]), ["sg"])
    assert bank.get("q-one").key_points[0].paraphrases == ("SGs track connections, so replies flow back.",)


def test_every_key_point_of_the_real_bank_has_paraphrases(question_bank):
    assert all(len(kp.paraphrases) == 2 for q in question_bank.questions for kp in q.key_points)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key_points": []}, "question q-one, field 'key_points'"),
        ({"level": "guru"}, "question q-one, field 'level'"),
        (
            {"sources": ["no-such-section"]},
            "question q-one, field 'sources': 'no-such-section' names no corpus section",
        ),
        ({"key_points": [{"id": "kp", "text": "x" * 10, "weight": 9}]}, "question q-one, field 'key_points.0.weight'"),
        ({"surprise": 1}, "question q-one, field 'surprise'"),
        ({"model_answer": "   "}, "question q-one, field 'model_answer'"),
        (
            {"key_points": [{"id": "kp", "text": "Security groups are stateful.", "paraphrases": ["SGs: stateful"]}]},
            "question q-one, field 'key_points.0.paraphrases'",
        ),
        (
            {
                "key_points": [
                    {"id": "kp", "text": "Security groups are stateful.", "paraphrases": ["SGs are stateful"] * 2}
                ]
            },
            "paraphrases repeat",
        ),
        (
            {"key_points": [{"id": "kp", "text": "Security groups are stateful.", "paraphrases": ["a b c"] * 5}]},
            "question q-one, field 'key_points.0.paraphrases'",
        ),
        (
            {"key_points": [{"id": "kp", "text": "SGs are stateful.", "paraphrases": ["SGs are stateful."]}]},
            "a paraphrase repeats the key point's text",
        ),
    ],
)
def test_each_error_names_file_question_and_field(tmp_path, change, message):
    path = write_bank(tmp_path, [{**GOOD, **change}])
    with pytest.raises(QuestionBankError) as caught:
        load_question_bank(path, ["sg"])
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_duplicate_question_ids_are_rejected(tmp_path):
    with pytest.raises(QuestionBankError, match="question q-one, field 'id': duplicate question id"):
        load_question_bank(write_bank(tmp_path, [GOOD, GOOD]), ["sg"])


def test_a_question_without_an_id_is_named_by_position(tmp_path):
    broken = {k: v for k, v in GOOD.items() if k != "id"}
    with pytest.raises(QuestionBankError, match="question #2, field 'id'"):
        load_question_bank(write_bank(tmp_path, [GOOD, broken]))


def test_malformed_yaml_and_wrong_shape_are_clear_errors(tmp_path):
    path = tmp_path / "questions.yaml"
    path.write_text("questions:\n  - id: [unclosed\n")
    with pytest.raises(QuestionBankError, match="not valid YAML at line"):
        load_question_bank(path)
    path.write_text("- just a list\n")
    with pytest.raises(QuestionBankError, match="'questions:' list"):
        load_question_bank(path)
    with pytest.raises(QuestionBankError, match="not found"):
        load_question_bank(tmp_path / "missing.yaml")


def test_a_folder_or_a_binary_file_as_the_bank_is_one_clear_line(tmp_path):
    import pytest

    from rag.errors import QuestionBankError
    from rag.questions import load_question_bank

    with pytest.raises(QuestionBankError, match="is a folder"):
        load_question_bank(tmp_path)
    binary = tmp_path / "bank.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(QuestionBankError, match="not a UTF-8 text file"):
        load_question_bank(binary)
