"""Role binding with the real spaCy parser: swapped terms are found, rewordings that keep the roles are not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.errors import ModelIntegrityError
from rag.grading import roles
from rag.grading.roles import RoleReader, swapped


@pytest.fixture(scope="module")
def reader() -> RoleReader:
    return RoleReader()


@pytest.mark.parametrize(
    ("claim", "answer"),
    [
        ("Lambda polls messages from the SQS queue.", "The SQS queue polls messages from Lambda."),
        ("The ALB forwards requests to the target group.", "The target group forwards requests to the ALB."),
        ("CloudWatch alarms trigger SNS notifications.", "SNS alarms trigger CloudWatch notifications."),
        (
            "The NAT gateway sends traffic to the internet gateway.",
            "The internet gateway sends traffic to the NAT gateway.",
        ),
    ],
)
def test_exchanged_terms_are_swapped(reader: RoleReader, claim: str, answer: str):
    assert reader.swapped(claim, answer)


@pytest.mark.parametrize(
    ("claim", "answer"),
    [
        ("Lambda polls messages from the SQS queue.", "Messages are polled from the SQS queue by Lambda."),
        ("The ALB forwards requests to the target group.", "Requests go from the ALB to the target group."),
        ("VPC A peers with VPC B.", "VPC B peers with VPC A."),
        ("RTO is the maximum acceptable downtime.", "The maximum acceptable downtime is the RTO."),
        ("Kinesis or Firehose ingests the stream.", "Firehose or Kinesis ingests the stream."),
        ("Lambda polls messages from the SQS queue.", "Lambda polls messages from the SQS queue."),
    ],
)
def test_rewordings_that_keep_the_roles_are_not_swapped(reader: RoleReader, claim: str, answer: str):
    assert not reader.swapped(claim, answer)


def test_only_the_clause_between_the_offsets_is_read(reader: RoleReader):
    sentence = "The SQS queue polls messages from Lambda, which is wrong, and Lambda polls the queue."
    claim = "Lambda polls messages from the SQS queue."
    assert reader.swapped(claim, sentence, 0, sentence.index(","))
    tail = sentence.index("and Lambda")
    assert not reader.swapped(claim, sentence, tail, len(sentence))


def test_swapped_needs_each_term_to_lose_its_own_place():
    claim = {"lambda": frozenset({("poll", "agent")}), "queue": frozenset({("poll", "from")})}
    exchanged = {"lambda": frozenset({("poll", "from")}), "queue": frozenset({("poll", "agent")})}
    both = {"lambda": frozenset({("poll", "from"), ("poll", "agent")}), "queue": frozenset({("poll", "agent")})}
    assert swapped(claim, exchanged)
    assert not swapped(claim, both), "a term still in its own place is not swapped"
    assert not swapped(claim, {"lambda": exchanged["lambda"]}), "one term alone cannot swap"
    assert not swapped({}, exchanged)


def test_a_parser_whose_weights_differ_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(roles.PARSER_SHA256, "parser/model", "0" * 64)
    with pytest.raises(ModelIntegrityError, match="refusing to load unverified"):
        roles.load_parser.__wrapped__()


def test_threads_sharing_one_reader_get_the_serial_answers():
    reader = RoleReader()
    pairs = [
        ("Lambda polls messages from the SQS queue.", "The SQS queue polls messages from Lambda."),
        ("Lambda polls messages from the SQS queue.", "Messages are polled from the SQS queue by Lambda."),
        ("CloudWatch alarms trigger SNS notifications.", "SNS alarms trigger CloudWatch notifications."),
    ] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda pair: reader.swapped(*pair), pairs))
    assert answers == [True, False, True] * 4


def test_a_modifier_is_placed_where_its_noun_chain_reaches_the_clause():
    assert roles.clause_place(("agent", "mod<requir:patient")) == ("requir", "patient")
    assert roles.clause_place(("memori", "mod<metric:mod<requir:agent")) == ("requir", "agent")
    assert roles.clause_place(("poll", "agent")) == ("poll", "agent")
    assert roles.clause_place(("queue", "mod<:")) is None


def test_swaps_by_clause_place_survive_a_parse_that_differs_inside_the_phrase():
    claim = {
        "cloudwatch": frozenset({("agent", "mod<requir:patient")}),
        "ec2": frozenset({("metric", "mod<requir:agent")}),
    }
    answer = {
        "cloudwatch": frozenset({("memori", "mod<metric:mod<requir:agent")}),
        "ec2": frozenset({("agent", "mod<requir:patient")}),
    }
    assert not swapped(claim, answer)
    assert swapped(claim, answer, by_clause_place=True)


def test_modifiers_reordered_inside_one_phrase_are_not_swapped_by_clause_place():
    claim = {
        "ec2": frozenset({("metric", "mod<requir:agent")}),
        "instanc": frozenset({("metric", "mod<requir:agent")}),
    }
    answer = {
        "ec2": frozenset({("instanc", "mod<metric:mod<requir:agent")}),
        "instanc": frozenset({("metric", "mod<requir:agent")}),
    }
    assert not swapped(claim, answer, by_clause_place=True)


def test_the_parser_reading_by_clause_place_finds_an_exchange_the_exact_reading_misses(reader: RoleReader):
    claim = "CloudFront edge locations cache the content of the S3 origin bucket."
    answer = "S3 edge locations cache the content of the CloudFront origin bucket."
    assert not reader.swapped(claim, answer)
    assert reader.swapped(claim, answer, by_clause_place=True)
    assert not reader.swapped(claim, claim, by_clause_place=True)

