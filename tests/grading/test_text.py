"""Clause splitting, normalisation, negation and antonyms of the offline grader (no model needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.grading.text import (
    analyse,
    antonym_pairs,
    expand_abbreviations,
    load_lexicon,
    polarity_flips,
    porter_stem,
    split_clauses,
    split_sentences,
    tokenize,
)
from rag.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def flips(clause: str, reference: str, lexicon) -> int:
    return polarity_flips(analyse(clause, lexicon), analyse(reference, lexicon), lexicon)


# ---------------------------------------------------------------------------------------------- clauses


def texts(spans) -> list[str]:
    return [span.text for span in spans]


def test_every_clause_is_an_exact_substring_of_the_answer():
    answer = (
        "Security groups are stateful: return traffic is allowed automatically, whereas NACLs are stateless.\n"
        "- NAT gateway in a public subnet\n"
        "* Route 0.0.0.0/0 to it; the instances (e.g. web servers) keep private IPs.\n"
        "1. Flow Logs show REJECT records but the security group isn't the problem."
    )
    clauses = split_clauses(answer)
    assert len(clauses) >= 6
    for clause in clauses:
        assert answer[clause.start : clause.end] == clause.text
        assert clause.text == clause.text.strip()


def test_bullets_newlines_and_semicolons_separate_sentences():
    answer = "- first point about subnets\n- second point about routes\nA third line here; a fourth part here"
    assert texts(split_sentences(answer)) == [
        "first point about subnets",
        "second point about routes",
        "A third line here",
        "a fourth part here",
    ]


def test_contrast_words_break_clauses_but_a_plain_and_between_nouns_does_not():
    assert texts(split_clauses("Security groups are stateful whereas network ACLs are stateless.")) == [
        "Security groups are stateful",
        "network ACLs are stateless.",
    ]
    assert texts(split_clauses("Glacier is cheaper to store, but retrieval takes hours.")) == [
        "Glacier is cheaper to store",
        "retrieval takes hours.",
    ]
    assert texts(split_clauses("NACLs support allow and deny rules at the subnet level.")) == [
        "NACLs support allow and deny rules at the subnet level."
    ]
    assert texts(split_clauses("One RCU is a 4 KB read and one WCU is a 1 KB write.")) == [
        "One RCU is a 4 KB read",
        "one WCU is a 1 KB write.",
    ]


def test_abbreviations_and_decimals_do_not_end_sentences():
    answer = "Use a columnar format, e.g. Parquet, and version 1.5 of the driver. Then partition by date."
    assert len(split_sentences(answer)) == 2


def test_no_clause_is_a_lone_word():
    for clause in split_clauses("Yes. Security groups are stateful. OK."):
        assert len(tokenize(clause.text)) >= 2


# ---------------------------------------------------------------------------------------------- words


def test_tokenize_keeps_contractions_and_splits_hyphens():
    assert tokenize("SQS doesn't guarantee One Zone-IA ordering") == [
        "sqs",
        "doesn't",
        "guarantee",
        "one",
        "zone",
        "ia",
        "ordering",
    ]


def test_british_and_american_spellings_normalise_alike(lexicon):
    for british, american in [
        ("analyse", "analyze"),
        ("centre", "center"),
        ("colour", "color"),
        ("optimise", "optimize"),
    ]:
        assert lexicon.normalise(british) == lexicon.normalise(american)
    assert lexicon.normalise("organisation") == lexicon.normalise("organization")


def test_stemmer_joins_inflections_and_keeps_opposites_apart(lexicon):
    assert lexicon.normalise("ordering") == lexicon.normalise("ordered") == lexicon.normalise("order")
    assert lexicon.normalise("stateful") != lexicon.normalise("stateless")
    assert porter_stem("caresses") == "caress"
    assert porter_stem("hopping") == "hop"


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


# ---------------------------------------------------------------------------------------------- polarity


def test_antonyms_are_symmetric_and_come_from_the_lexicon(lexicon):
    for left, right in [
        ("stateful", "stateless"),
        ("allow", "deny"),
        ("synchronous", "asynchronous"),
        ("public", "private"),
    ]:
        assert right in lexicon.opposites(left)
        assert left in lexicon.opposites(right)
    assert antonym_pairs(["security", "stateless"], ["security", "stateful"], lexicon) == [("stateless", "stateful")]


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


def test_a_negating_prefix_makes_an_opposite_only_for_long_enough_words(lexicon):
    assert "unpredictable" in lexicon.opposites("predictable")
    assert "predictable" in lexicon.opposites("unpredictable")
    assert "secure" in lexicon.opposites("insecure")
    assert "put" not in lexicon.opposites("input")
    assert antonym_pairs(["input", "put"], ["put"], lexicon) == []


def test_numbers_are_digits_or_number_words_but_not_one(lexicon):
    assert lexicon.numbers(["six", "copies", "3", "azs"]) == {6, 3}
    assert lexicon.numbers(["one", "cmk", "per", "app"]) == set()
    assert lexicon.numbers(["007"]) == {7}


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


# ---------------------------------------------------------------------------------------------- lexicon file


def test_the_shipped_lexicon_is_valid_and_has_the_domain_pairs(lexicon):
    assert "the" in lexicon.stopwords
    assert "not" in lexicon.negations
    pairs = {
        ("stateful", "stateless"),
        ("allow", "deny"),
        ("synchronous", "asynchronous"),
        ("instance", "subnet"),
        ("inbound", "outbound"),
        ("encrypted", "unencrypted"),
        ("regional", "global"),
        ("push", "pull"),
        ("ordered", "unordered"),
        ("durable", "ephemeral"),
        ("horizontal", "vertical"),
        ("increase", "decrease"),
        ("cheaper", "expensive"),
        ("before", "after"),
    }
    for left, right in pairs:
        assert right in lexicon.opposites(left), (left, right)


def write_lexicon(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unquoted_yaml_booleans_are_rejected_not_coerced(tmp_path: Path):
    path = write_lexicon(tmp_path, "version: 1\nstopwords: [the]\nnegations: [not, no]\n")
    with pytest.raises(ConfigError, match="negations"):
        load_lexicon(path)


def test_a_stopword_cannot_be_an_antonym(tmp_path: Path):
    path = write_lexicon(
        tmp_path, "version: 1\nstopwords: [the, before]\nnegations: [not]\nantonyms: [[before, after]]\n"
    )
    with pytest.raises(ConfigError, match="stopwords"):
        load_lexicon(path)


def test_an_avoidance_word_cannot_be_a_stopword_or_a_negation(tmp_path: Path):
    for listed in ("stopwords: [the, instead]\nnegations: [not]", "stopwords: [the]\nnegations: [not, without]"):
        path = write_lexicon(tmp_path, f"version: 1\n{listed}\navoidance_words: [instead, without]\n")
        with pytest.raises(ConfigError, match="avoidance words"):
            load_lexicon(path)


def test_a_lowercase_only_short_form_must_be_a_listed_short_form(tmp_path: Path):
    path = write_lexicon(
        tmp_path, "version: 1\nstopwords: [the]\nnegations: [not]\nlowercase_only_abbreviations: [ms]\n"
    )
    with pytest.raises(ConfigError, match="lowercase_only_abbreviations"):
        load_lexicon(path)


def test_unknown_fields_and_missing_files_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"synonym.*Extra inputs"):
        load_lexicon(write_lexicon(tmp_path, "version: 1\nstopwords: [the]\nnegations: [not]\nsynonym: {}\n"))
    with pytest.raises(ConfigError, match="missing"):
        load_lexicon(tmp_path / "absent.yaml")


def test_lexicon_lives_in_prompts():
    assert (PROJECT_ROOT / "prompts" / "offline_lexicon.yaml").is_file()


def test_a_copy_of_the_lexicon_with_other_antonyms_keeps_no_memo_of_the_old_ones(lexicon):
    assert "stateless" in lexicon.opposites("stateful")
    copy = dataclasses.replace(lexicon, antonyms={})
    assert "stateless" not in copy.opposites("stateful")
