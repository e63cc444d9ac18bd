"""Sentence and clause splitting of the offline grader, as exact spans of the answer (no model needed)."""

from __future__ import annotations

from rag.grading.clauses import split_clauses, split_sentences
from rag.grading.stemming import tokenize


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
