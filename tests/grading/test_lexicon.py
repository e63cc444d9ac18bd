"""The offline grader's word lists: the shipped file, its validation, spellings, opposites and numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.grading.lexicon import load_lexicon
from rag.grading.text import antonym_pairs
from rag.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def test_british_and_american_spellings_normalise_alike(lexicon):
    for british, american in [
        ("analyse", "analyze"),
        ("centre", "center"),
        ("colour", "color"),
        ("optimise", "optimize"),
    ]:
        assert lexicon.normalise(british) == lexicon.normalise(american)
    assert lexicon.normalise("organisation") == lexicon.normalise("organization")


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


def test_an_edited_copy_of_the_lexicon_changes_what_the_grader_reads(tmp_path):
    text = (PROJECT_ROOT / "prompts" / "offline_lexicon.yaml").read_text(encoding="utf-8")
    edited = tmp_path / "offline_lexicon.yaml"
    edited.write_text(text.replace("stateless", "stateloose"), encoding="utf-8")
    assert "stateloose" in load_lexicon(edited).opposites("stateful")
    assert "stateloose" not in load_lexicon().opposites("stateful")


def test_a_copy_of_the_lexicon_with_other_antonyms_keeps_no_memo_of_the_old_ones(lexicon):
    assert "stateless" in lexicon.opposites("stateful")
    copy = dataclasses.replace(lexicon, antonyms={})
    assert "stateless" not in copy.opposites("stateful")
