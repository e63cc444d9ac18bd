"""The tokenizer and the Porter stemmer of the offline grader (no model needed)."""

from __future__ import annotations

import pytest

from rag.grading.lexicon import load_lexicon
from rag.grading.stemming import porter_stem, tokenize


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


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


def test_stemmer_joins_inflections_and_keeps_opposites_apart(lexicon):
    assert lexicon.normalise("ordering") == lexicon.normalise("ordered") == lexicon.normalise("order")
    assert lexicon.normalise("stateful") != lexicon.normalise("stateless")
    assert porter_stem("caresses") == "caress"
    assert porter_stem("hopping") == "hop"
