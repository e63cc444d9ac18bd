"""Abbreviations, negation and antonyms of the offline grader's text analysis (no model needed)."""

from __future__ import annotations

import pytest

from rag.grading.lexicon import load_lexicon
from rag.grading.text import analyse, expand_abbreviations, polarity_flips


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def flips(clause: str, reference: str, lexicon) -> int:
    return polarity_flips(analyse(clause, lexicon), analyse(reference, lexicon), lexicon)


def test_stopwords_are_dropped_but_negations_and_comparisons_are_kept(lexicon):
    stems = analyse("The data is not more expensive than before", lexicon).stems
    assert "the" not in stems
    assert {"more", "expens", "befor"} <= set(stems)
    assert "not" not in stems  # negations are tracked separately, not as content
    assert analyse("The data is not more expensive", lexicon).negations == 1


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("SQS does not guarantee ordering", True),
        ("SQS doesn't guarantee ordering", True),
        ("You cannot attach it", True),
        ("It never retries", True),
        ("Traffic goes through without a NAT gateway", True),
        ("Not only is it cheaper, it is faster", False),
        ("SQS guarantees ordering", False),
        ("It is not unlike the other one, it doesn't differ", False),
    ],
)
def test_negation_detection(text: str, negated: bool, lexicon):
    assert analyse(text, lexicon).negated is negated


def test_leading_no_answers_the_interviewer_and_negates_nothing(lexicon):
    assert analyse("No, security groups are stateful", lexicon).negations == 0
    assert analyse("No security group is stateless", lexicon).negations == 1


def test_words_after_an_avoidance_word_are_neither_plain_nor_negated(lexicon):
    analysis = analyse("Use roles instead of long-lived access keys, and rotate them", lexicon)
    assert {"access", "keys"} <= analysis.avoided_words
    assert not {"access", "key"} & (analysis.plain_stems | analysis.negated_stems)
    assert {"role", "instead", "rotat"} <= analysis.plain_stems


def test_negation_scope_ends_at_a_comma_or_conjunction(lexicon):
    analysis = analyse("Shield Standard comes at no extra cost and automatically protects you", lexicon)
    assert analysis.negated_stems == {"extra", "cost"}
    assert "protect" in analysis.plain_stems


@pytest.mark.parametrize(
    ("clause", "reference", "opposite"),
    [
        ("Security groups are stateless", "Security groups are stateful", True),
        ("Security groups are not stateless", "Security groups are stateful", False),
        ("Security groups aren't stateful", "Security groups are stateful", True),
        ("SQS guarantees ordering", "Standard queues do not guarantee order", True),
        ("SQS does not guarantee ordering", "Standard queues do not guarantee order", False),
        ("Messages can arrive out of order", "Standard queues do not guarantee order", False),
        ("The CIDR blocks can't overlap", "Peered VPCs cannot have overlapping CIDR blocks", False),
        ("I'd add a VPC endpoint for S3", "For S3, a VPC endpoint provides access without the NAT path", False),
        ("Security groups apply to subnets", "Security groups apply to instances", True),
        ("Security groups are stateful, unlike stateless NACLs", "Security groups are stateful", False),
        ("On-demand suits steady, predictable workloads", "On-demand suits spiky, unpredictable workloads", True),
        ("One RCU is a 1 KB read", "One RCU is a strongly consistent 4 KB read per second", True),
        ("Aurora keeps 6 copies across 3 AZs", "Aurora keeps six copies across three AZs", False),
        ("Up to 15 replicas fail over in 30 seconds", "Up to 15 replicas", False),
        ("A private link with no internet", "A private link, bypassing the internet", False),
        ("Admins with the permission can bypass governance mode", "Governance mode can be bypassed by admins", False),
        ("Strongly consistent reads skip DAX", "Strongly consistent reads bypass DAX", False),
        ("Strongly consistent reads do not bypass DAX", "Strongly consistent reads bypass DAX", True),
        ("Traffic avoids the public internet", "Traffic uses the private network", False),
        ("Never use wildcards", "Policies name specific actions rather than wildcards", False),
    ],
)
def test_polarity_flips(clause: str, reference: str, opposite: bool, lexicon):
    assert (flips(clause, reference, lexicon) % 2 == 1) is opposite


def test_abbreviations_are_written_out_and_every_character_keeps_its_origin(lexicon):
    text = "3 AZs behind one ALB, DB creds in Secrets Manager, Multi-AZ on."
    expanded = expand_abbreviations(text, lexicon)
    assert expanded.text == (
        "3 availability zones behind one ALB, database credentials in Secrets Manager, Multi-AZ on."
    )
    assert len(expanded.origin) == len(expanded.text) + 1 and expanded.origin[-1] == len(text)
    start = expanded.text.index("database")
    assert text[expanded.origin[start] :].startswith("DB creds")
    assert expanded.origin[expanded.text.index("behind")] == text.index("behind")


def test_the_stemmer_sees_abbreviations_written_out(lexicon):
    assert analyse("3 AZs", lexicon).stems == analyse("3 availability zones", lexicon).stems


def test_number_words_and_digits_share_a_stem(lexicon):
    assert analyse("three AZs for every tier", lexicon).stems == analyse("3 AZs for every tier", lexicon).stems
    assert "1" not in analyse("one of them", lexicon).stems


def test_short_forms_of_automatic_and_of_time_units_are_written_out(lexicon):
    assert set(analyse("Lambda auto-scales", lexicon).stems) == set(
        analyse("Lambda scales automatically", lexicon).stems
    )
    assert (
        analyse("2 hrs and 30 secs, reads in ms", lexicon).stems
        == analyse("2 hours and 30 seconds, reads in milliseconds", lexicon).stems
    )


def test_a_lowercase_only_short_form_in_capitals_is_left_alone(lexicon):
    assert expand_abbreviations("MS SQL Server reads in 5 ms", lexicon).text == "MS SQL Server reads in 5 milliseconds"
    assert "millisecond" not in analyse("MS SQL Server on RDS", lexicon).stems
    assert "millisecond" in analyse("reads in 5 ms", lexicon).stems


def test_antonyms_are_word_forms_so_regions_is_not_regional(lexicon):
    assert flips("Traffic rides the global network to endpoints in two regions", "It is a global service", lexicon) == 0
    assert flips("NAT gateways are regional", "NAT gateways are global", lexicon) == 1
