"""Whether an answer is written in English: the offline grader, its lexicon and its models read English only.

An answer in another language gets a score near zero whatever it says, and without a word of why. The
check is the share of the answer's lower-case words that the embedding model's own vocabulary holds as whole words
(all-MiniLM-L6-v2's uncased English WordPiece vocabulary): English prose, notes and even bare lists of AWS
terms keep most of their words whole; German, Spanish or French split most of theirs into pieces, and other
scripts have none. Short answers are not judged: a few words say too little.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.embeddings import model_dir

VOCABULARY_FILE = "vocab.txt"
ENGLISH_SHARE = 0.3
"""At least this share of the lower-case words (3+ letters) must be whole vocabulary entries for English.

Read on English text (not on any eval set): the bank's written statements (notes-style ones included) and the
SAF and SciEntsBank train answers with 8 words or more, lowest 0.38 (a SAF answer of formulas with German
words); written German, Spanish, French, Portuguese, Italian, Dutch and Russian answers: 0.21 or less."""
MIN_WORDS = 8

_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\W\d_\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]{3,}")
"""A word: three letters or more, or one character of a script written without spaces (Japanese, Chinese)
or in syllable blocks (Korean), where one character is about a word; such a character is never an English
word, though the vocabulary lists many of them."""


@lru_cache(maxsize=1)
def english_vocabulary() -> frozenset[str]:
    """The embedding model's whole-word vocabulary entries (no "##" continuation pieces)."""
    lines = (model_dir() / VOCABULARY_FILE).read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line.isalpha())


def english_share(text: str) -> tuple[float, int]:
    """(share of the text's words without a capital held whole by the vocabulary, how many were read).

    Words with a capital are left out: names and acronyms ("Cognito", "KMS", "DEK") belong to no language.
    Scripts without case (Japanese, Chinese) count in full."""
    words = [word for word in _WORD.findall(text) if not any(ch.isupper() for ch in word)]
    if not words:
        return 0.0, 0
    vocabulary = english_vocabulary()
    return sum(len(word) > 1 and word in vocabulary for word in words) / len(words), len(words)


def looks_english(text: str) -> bool:
    """False only for a text of MIN_WORDS words or more whose words are mostly not English words."""
    share, count = english_share(text)
    return count < MIN_WORDS or share >= ENGLISH_SHARE
