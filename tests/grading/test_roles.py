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
