"""Word lists with the shipped lexicon: runs of words with no function word, lists of single common words."""

from __future__ import annotations

import pytest

from rag.grading.lexicon import load_lexicon
from rag.grading.wordlists import WordListParams, blank, word_lists

PARAMS = WordListParams(run=10, items=4)


def listed(text: str) -> list[str]:
    return [span.text for span in word_lists(text, load_lexicon(), PARAMS)]


def test_a_run_of_content_words_is_a_list():
    soup = "stateful stateless return traffic allow deny subnet instance interface rule number order first match"
    assert listed(soup) == [soup]


def test_a_run_after_a_statement_in_the_same_sentence_is_cut_where_the_function_words_stop():
    answer = "The answer is stateful stateless return traffic allow deny subnet instance interface rule number."
    assert listed(answer) == ["stateful stateless return traffic allow deny subnet instance interface rule number"]


def test_single_common_words_between_commas_are_a_list():
    answer = "Security groups are stateful.\nstateful, stateless, return, traffic, allow"
    assert listed(answer) == ["stateful, stateless, return, traffic, allow"]


@pytest.mark.parametrize(
    "answer",
    [
        "SG stateful, NACL stateless, SG instance level, NACL subnet level, SG allow only",
        "CloudTrail's log file integrity validation writes signed digest files.",
        "Cost Explorer + cost alloc tags -> spend broken down by service / account / usage type / tag",
        "EC2, RDS, DynamoDB, EFS, FSx, S3",
        "Pillars: operational excellence, security, reliability, performance efficiency, cost optimization.",
        "Security groups are stateful, so return traffic is allowed automatically.",
        "Use aws:SourceVpc, aws:PrincipalOrgID and MFA conditions.",
    ],
)
def test_notes_statements_and_enumerations_of_names_are_not_lists(answer: str):
    assert listed(answer) == []


def test_a_pause_ends_a_run():
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    assert listed(words) == [words]
    assert listed("alpha beta gamma delta epsilon; zeta eta theta iota kappa") == []


def test_every_shipped_statement_in_the_bank_reads_as_a_statement(bank_statements):
    """The thresholds were chosen as the smallest that read none of the bank's written statements as a list."""
    lexicon = load_lexicon()
    texts = bank_statements
    assert [t for t in texts if word_lists(t, lexicon, PARAMS)] == []
    for tighter in (
        PARAMS.model_copy(update={"run": PARAMS.run - 1}),
        PARAMS.model_copy(update={"items": PARAMS.items - 1}),
    ):
        assert [t for t in texts if word_lists(t, lexicon, tighter)], f"{tighter} reads no statement as a list"


def test_blanking_keeps_every_offset():
    text = "Security groups are stateful. alpha beta gamma delta epsilon zeta eta theta iota kappa"
    spans = word_lists(text, load_lexicon(), PARAMS)
    blanked = blank(text, [(span.start, span.end) for span in spans])
    assert len(blanked) == len(text)
    assert blanked.startswith("Security groups are stateful.")
    assert not blanked[30:].strip()


def test_nothing_is_read_as_a_list_when_reading_is_off_or_the_text_is_not_english():
    text = "stateful stateless return traffic allow deny subnet instance interface rule number order"
    assert word_lists(text, load_lexicon(), PARAMS), "read with the shipped shape, it is a list"
    assert word_lists(text, load_lexicon(), None) == []
    assert word_lists(text, load_lexicon(), PARAMS, english=False) == []
