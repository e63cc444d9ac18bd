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
    "key_points": [
        {
            "id": "kp",
            "text": "Security groups are stateful.",
            "weight": 2,
            "hint": "When a request is let in, what happens to the reply going back out: does it need its own rule?",
        }
    ],
    "misconceptions": [{"id": "m", "claim": "They are stateless.", "correction": "They are stateful."}],
    "model_answer": "A stateful firewall.",
    "sources": ["sg"],
    "follow_ups": [
        {
            "id": "q-one--nacl",
            "question": "And network ACLs?",
            "key_points": [
                {
                    "id": "stateless",
                    "text": "Network ACLs are stateless, so return traffic needs its own rule.",
                    "hint": "Does a subnet firewall remember the request when the reply comes back?",
                },
                {
                    "id": "subnet",
                    "text": "A network ACL applies to every instance in a subnet.",
                    "hint": "Where is it attached: to an instance, or to something bigger?",
                },
            ],
            "model_answer": "They are stateless subnet firewalls.",
        }
    ],
}
FOLLOW_UP = GOOD["follow_ups"][0]
LEAKY = "Is return traffic stateless here?"


def with_follow_up(**change) -> dict:
    return {**GOOD, "follow_ups": [{**FOLLOW_UP, **change}]}


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
        for follow_up in question.follow_ups:
            assert follow_up.parent == question.id and bank.get(follow_up.id) is follow_up
            assert (follow_up.topic, follow_up.level, follow_up.sources) == (
                question.topic, question.level, question.sources,
            )  # fmt: skip
            assert 2 <= len(follow_up.key_points) <= 4 and follow_up.model_answer
    ids = [q.id for q in bank.all_questions()]
    assert len(ids) == len(set(ids)) == len(bank.questions) + len(bank.follow_ups)
    assert len(bank.follow_ups) >= 90


def test_a_valid_bank_loads(tmp_path):
    bank = load_question_bank(write_bank(tmp_path, [GOOD]), ["sg"])
    assert bank.get("q-one").total_weight == 2


def test_key_points_may_list_paraphrases(tmp_path):
    point = {
        "id": "kp",
        "text": "Security groups are stateful.",
        "paraphrases": [" SGs track connections, so replies flow back. "],
        "hint": "Does the reply to an allowed request need a rule of its own?",
    }
    bank = load_question_bank(write_bank(tmp_path, [{**GOOD, "key_points": [point]}]), ["sg"])
    assert bank.get("q-one").key_points[0].paraphrases == ("SGs track connections, so replies flow back.",)


def test_every_key_point_of_the_real_bank_has_paraphrases(question_bank):
    assert all(len(kp.paraphrases) == 2 for q in question_bank.questions for kp in q.key_points)
    assert all(1 <= len(kp.paraphrases) <= 2 for q in question_bank.follow_ups for kp in q.key_points)


@pytest.mark.parametrize(
    ("paraphrases", "error"),
    [
        (["Too short"], "at least 3 words"),
        (["SGs drop replies unless you allow them.", "sgs drop replies unless you allow them."], "repeat"),
        (["Security groups are stateless."], "repeats the misconception's claim"),
    ],
)
def test_misconception_paraphrases_are_validated(tmp_path, paraphrases: list[str], error: str):
    misconception = {
        "id": "m-stateless",
        "claim": "Security groups are stateless.",
        "correction": "They are stateful.",
        "paraphrases": paraphrases,
    }
    with pytest.raises(QuestionBankError, match=error):
        load_question_bank(write_bank(tmp_path, [{**GOOD, "misconceptions": [misconception]}]), ["sg"])


def test_every_misconception_of_the_real_bank_has_paraphrases(question_bank):
    every = [m for q in question_bank.all_questions() for m in q.misconceptions]
    assert every and all(3 <= len(m.paraphrases) <= 4 for m in every)


def test_a_follow_up_is_a_question_of_its_own_that_inherits_from_its_parent(tmp_path):
    bank = load_question_bank(write_bank(tmp_path, [GOOD]), ["sg"])
    follow_up = bank.get("q-one--nacl")
    assert follow_up.parent == "q-one" and follow_up.is_follow_up and not bank.get("q-one").is_follow_up
    assert (follow_up.topic, follow_up.level.value, follow_up.sources) == ("networking", "associate", ("sg",))
    assert [kp.id for kp in follow_up.key_points] == ["stateless", "subnet"]
    assert bank.main_question("q-one--nacl").id == bank.main_question("q-one").id == "q-one"
    assert [q.id for q in bank.questions] == ["q-one"]  # follow-ups are not in the practice pool
    assert [q.id for q in bank.filter(["networking"])] == ["q-one"]
    assert [q.id for q in bank.follow_ups] == ["q-one--nacl"]


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        ([with_follow_up(id="q-one")], "follow-up q-one of question q-one, field 'id': duplicate question id"),
        (
            [with_follow_up(), {**GOOD, "id": "q-two", "follow_ups": [FOLLOW_UP]}],
            "follow-up q-one--nacl of question q-two, field 'id': duplicate question id",
        ),
        ([with_follow_up(id="q-two"), {**GOOD, "id": "q-two", "follow_ups": []}], "question q-two, field 'id'"),
        ([with_follow_up(key_points=[])], "follow-up q-one--nacl of question q-one, field 'key_points'"),
        ([with_follow_up(key_points=FOLLOW_UP["key_points"][:1])], "a follow-up checks 2 to 4 key points, not 1"),
        ([with_follow_up(model_answer=" ")], "follow-up q-one--nacl of question q-one, field 'model_answer'"),
        ([with_follow_up(topic="storage")], "inherits topic from its parent"),
        ([with_follow_up(follow_ups=[{**FOLLOW_UP, "id": "deeper"}])], "a follow-up has no follow-ups of its own"),
        ([{**GOOD, "follow_ups": ["And NACLs?"]}], "is plain text; a follow-up is a question with an id"),
        (
            [with_follow_up(key_points=[{**FOLLOW_UP["key_points"][0], "hint": None}, FOLLOW_UP["key_points"][1]])],
            "follow-up q-one--nacl of question q-one, field 'key_points': key point 'stateless': the hint is missing",
        ),
        (
            [with_follow_up(key_points=[{**FOLLOW_UP["key_points"][0], "hint": LEAKY}, FOLLOW_UP["key_points"][1]])],
            "key point 'stateless': the hint gives the answer away",
        ),
    ],
)
def test_follow_ups_are_validated_like_main_questions(tmp_path, questions, message):
    with pytest.raises(QuestionBankError) as caught:
        load_question_bank(write_bank(tmp_path, questions), ["sg"])
    assert message in str(caught.value)


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


STATEFUL = {
    "id": "stateful",
    "text": "Security groups are stateful: return traffic is allowed automatically.",
    "weight": 3,
    "hint": "When a request is let in, what happens to the reply going back out: does it need its own rule?",
}


def bank_with_hint(tmp_path: Path, hint: str | None) -> Path:
    point = {k: v for k, v in STATEFUL.items() if k != "hint"} | ({"hint": hint} if hint is not None else {})
    return write_bank(tmp_path, [{**GOOD, "key_points": [point]}])


def test_a_real_nudge_passes_and_is_kept_as_written(tmp_path):
    bank = load_question_bank(bank_with_hint(tmp_path, "  " + STATEFUL["hint"] + " "), ["sg"])
    assert bank.get("q-one").key_points[0].hint == STATEFUL["hint"]


def test_a_nudge_may_name_what_the_question_is_about(tmp_path):
    hint = "Security groups let a request in: think about the reply to it on the way out."
    assert load_question_bank(bank_with_hint(tmp_path, hint), ["sg"]).get("q-one").key_points[0].hint == hint


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (None, "key point 'stateful': the hint is missing"),
        ("   ", "key point 'stateful': the hint is blank"),
        ("Why? " * 40, "key point 'stateful': the hint is 199 characters long"),
        ("Security groups are stateful: return traffic is allowed automatically.", "repeats the key point"),
        ("security groups are STATEFUL - return traffic is allowed automatically", "repeats the key point"),
        ("Security groups are …: return … is … automatically.", "fill-in-the-blank mask"),
        ("Security groups are ___: return ___ is allowed ___.", "fill-in-the-blank mask"),
        ("Security groups are stateful: return ... is ... automatically.", "fill-in-the-blank mask"),
        ("Security groups are stateful: return traffic is", "gives the answer away"),
        ("Return traffic gets through automatically because they are stateful, right?", "gives the answer away"),
        ("Isn't the answer traffic that's allowed?", "gives the answer away"),
    ],
)
def test_a_hint_that_is_missing_or_gives_the_point_away_is_refused(tmp_path, hint, message):
    path = bank_with_hint(tmp_path, hint)
    with pytest.raises(QuestionBankError) as caught:
        load_question_bank(path, ["sg"])
    assert "q-one" in str(caught.value) and "'stateful'" in str(caught.value)
    assert message in str(caught.value)


def test_a_hint_may_not_state_the_key_points_number(tmp_path):
    point = {"id": "ttl", "text": "Messages stay in the queue for up to 14 days.", "hint": "More or less than 14?"}
    with pytest.raises(QuestionBankError, match="key point 'ttl': the hint states the key point's number 14"):
        load_question_bank(write_bank(tmp_path, [{**GOOD, "key_points": [point]}]), ["sg"])


def test_the_give_away_check_counts_only_words_the_question_lacks():
    from rag.questions import hint_gives_away, leaked_words

    key_point = "Security groups are stateful: return traffic is allowed automatically."
    assert leaked_words("What about security groups and replies?", key_point, "What is a security group?") == []
    assert leaked_words("Is return traffic special?", key_point, "What is a security group?") == ["return", "traffic"]
    assert hint_gives_away("Is return traffic special?", key_point, "What is a security group?")
    assert hint_gives_away("Is return traffic special?", key_point, "How is return traffic handled?") is None


def test_every_key_point_of_the_real_bank_has_a_nudge(question_bank):
    for question in question_bank.all_questions():
        for kp in question.key_points:
            assert kp.hint and kp.hint != kp.text and len(kp.hint) <= 160, (question.id, kp.id)


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
