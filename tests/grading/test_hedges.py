"""Hedged clauses with the shipped lexicon: a statement offered with its opposite, or framed as unknown."""

from __future__ import annotations

import pytest

from rag.grading.clauses import split_clauses, split_sentences
from rag.grading.hedges import hedged_clauses, is_hedged
from rag.grading.lexicon import load_lexicon
from rag.grading.views import sentence_index


@pytest.mark.parametrize(
    "clause",
    [
        "I'm not sure whether SQS is pull-based or not.",
        "No idea if the bucket policy is evaluated first",
        "SQS is pull-based, or maybe the opposite, it depends.",
        "Possibly SQS is pull-based, but possibly not.",
        "Either SQS keeps the message, or SQS does not keep the message.",
        "Security groups are stateful or stateless",
        "The policy either allows or denies the call",
        "The bucket is private or public by default",
        "Lambda scales automatically or doesn't scale automatically",
    ],
)
def test_a_statement_with_its_opposite_or_framed_as_unknown_is_hedged(clause: str):
    assert is_hedged(clause, load_lexicon())


@pytest.mark.parametrize(
    "clause",
    [
        "Deploy across 2 or 3 Availability Zones",
        "NACLs can allow or deny traffic",
        "Use a NAT gateway or a NAT instance",
        "You don't need a NAT gateway or an internet gateway",
        "SQS is pull-based, but SNS is not",
        "It keeps the message, but not for ever",
        "Shield Standard is free, not a paid add-on",
        "Security groups are stateful, whereas NACLs are stateless",
        "If you are not sure, check the route table",
        "Check the route table to know if the subnet is public",
        "Send a test request to see if the port is open or not",
        "Whether the subnet is public or private depends on its route table",
        "Security groups filter inbound or outbound traffic",
        "A VPC holds public or private subnets",
    ],
)
def test_alternatives_contrasts_and_conditions_are_not_hedges(clause: str):
    assert not is_hedged(clause, load_lexicon())


def hedged_in(text: str) -> dict[str, bool]:
    sentences = split_sentences(text)
    clauses = split_clauses(text)
    found = hedged_clauses([c.text for c in clauses], [sentence_index(sentences, c) for c in clauses], load_lexicon())
    return {c.text: h for c, h in zip(clauses, found, strict=True)}


def test_a_retraction_takes_back_its_sentence_so_far_and_nothing_after():
    found = hedged_in(
        "SQS is pull-based, so consumers poll the queue, or maybe the opposite. Messages stay up to 14 days."
    )
    assert found == {
        "SQS is pull-based": True,
        "consumers poll the queue, or maybe the opposite.": True,
        "Messages stay up to 14 days.": False,
    }


def test_an_uncertainty_frame_covers_what_follows_it_in_its_sentence():
    found = hedged_in("SQS is pull-based, but I'm not sure whether messages stay 14 days, so check the docs.")
    assert found == {
        "SQS is pull-based": False,
        "I'm not sure whether messages stay 14 days": True,
        "check the docs.": True,
    }


@pytest.mark.parametrize(
    "clause",
    [
        "Endpoints let private instances reach S3 with no internet gateway, NAT or public IP address needed",
        "VPC endpoints keep traffic between private subnets and AWS services off the internet, so it never leaves "
        "the AWS network or crosses the public internet",
        "NACLs are stateless and apply to subnets, so inbound or outbound return traffic must be allowed explicitly",
    ],
)
def test_an_opposite_outside_what_or_joins_does_not_reverse_the_alternatives(clause: str):
    """The antonym ("private" ... "public") sits on other nouns than the alternatives; and a one-word
    alternative before a noun is a range even where the parser attaches the first one elsewhere."""
    assert not is_hedged(clause, load_lexicon())
