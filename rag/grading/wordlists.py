"""Word lists: stretches of an answer that name terms without stating anything about them.

A statement needs words that relate its terms: "Security groups are stateful, so return traffic is
allowed" joins its nouns with "are", "so", "is". A list of the same words ("stateful stateless return
traffic allow deny subnet instance") holds every term a key point names and states nothing, yet a
matcher that compares words and their embeddings credits it. Two shapes of text are read as lists:

- a run of at least `run` consecutive words with no function word and no pause (punctuation or a
  sentence end) among them; short notes ("SG stateful", "NACL subnet level, stateless") stay well below it;
- at least `items` consecutive single-word items between commas or other pauses, none a function word
  or a name ("stateful, stateless, return, traffic, allow"); names, acronyms and numbers ("EC2, RDS,
  DynamoDB, EFS") make an enumeration, which the runs rule alone reads.

Function words are the lexicon's stopwords and negations (articles, prepositions, auxiliaries, pronouns,
conjunctions) and its `relation_words` (the prepositions and quantifiers the stopwords leave out because
they change what is claimed, and the arrows and signs of notes: "->", "+").
A list earns nothing: the grader blanks it before matching (keeping every offset) and tells the candidate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.grading.clauses import Span, split_sentences
from rag.grading.lexicon import Lexicon
from rag.grading.stemming import tokenize

_PAUSE = re.compile(r"[,;()\[\]{}\"“”!?|]|:(?=\s|$)")
_PIECE = re.compile(r"\S+")
QUOTE_CHARS = 80


class WordListParams(BaseModel):
    """How long a run of content words, or a comma list of single words, must be to read as a word list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: int = Field(ge=3, description="Consecutive words with no function word and no pause among them.")
    items: int = Field(ge=3, description="Consecutive single-word items, none a function word or a name.")
    selected_on: str = ""
    selection: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class _Segment:
    """A stretch of one sentence between pauses: its single word (if it is one content word) and its runs."""

    single: tuple[int, int] | None
    runs: tuple[tuple[int, int, int], ...]
    """(start, end, words) of each maximal run of content words."""


@lru_cache(maxsize=8)
def _function_words(lexicon: Lexicon) -> frozenset[str]:
    return lexicon.stopwords | lexicon.negations | lexicon.relation_words


def _relates(piece: str, lexicon: Lexicon) -> bool:
    """Whether a whitespace-separated piece is or holds a function word (a stopword, a negation, a relation word)."""
    if piece.strip(".'’").lower() in lexicon.relation_words:
        return True
    words = _function_words(lexicon)
    return any(token in words or token.endswith("n't") for token in tokenize(piece))


def _is_name(word: str) -> bool:
    """A name, an acronym or a number ("DynamoDB", "EFS", "S3", "443"): a list of them is an enumeration."""
    return any(ch.isupper() or ch.isdigit() for ch in word[1:]) or word[:1].isdigit()


def _segments(text: str, sentence: Span, lexicon: Lexicon) -> list[_Segment]:
    segments, cursor = [], sentence.start
    bounds = [(m.start() + sentence.start, m.end() + sentence.start) for m in _PAUSE.finditer(sentence.text)]
    for pause_start, pause_end in [*bounds, (sentence.end, sentence.end)]:
        read = [(m, _relates(m.group(), lexicon)) for m in _PIECE.finditer(text, cursor, pause_start)]
        pieces = [
            (m.start(), m.start() + len(m.group().rstrip(".…")), relates)
            for m, relates in read
            if relates or any(ch.isalnum() for ch in m.group())
        ]
        cursor = pause_end
        if not pieces:
            continue
        runs, current = [], []
        for piece in [*pieces, None]:
            if piece is not None and not piece[2]:
                current.append(piece)
                continue
            if current:
                runs.append((current[0][0], current[-1][1], len(current)))
            current = []
        word = text[pieces[0][0] : pieces[0][1]]
        single = (pieces[0][0], pieces[0][1]) if len(pieces) == 1 and not pieces[0][2] and not _is_name(word) else None
        segments.append(_Segment(single, tuple(runs)))
    return segments


def word_lists(text: str, lexicon: Lexicon, params: WordListParams | None, *, english: bool = True) -> list[Span]:
    """The word lists in `text` (see the module docstring), as exact spans in order. None when reading is off
    (`params` None) or the text is not English: its words are not in the lexicon, so any run would read as a
    list."""
    if params is None or not english:
        return []
    found: list[tuple[int, int]] = []
    for sentence in split_sentences(text):
        streak: list[tuple[int, int]] = []
        for segment in [*_segments(text, sentence, lexicon), None]:
            if segment is not None and segment.single is not None:
                streak.append(segment.single)
                continue
            if len(streak) >= params.items:
                found.append((streak[0][0], streak[-1][1]))
            streak = []
            if segment is not None:
                found.extend((start, end) for start, end, words in segment.runs if words >= params.run)
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return [Span(start, end, text[start:end]) for start, end in merged]


def blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with every (start, end) stretch replaced by spaces, so every other offset stays where it was."""
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def list_notice(listed: str, templates: dict) -> str:
    """The notice that names a word list (the `word_list` feedback template), quoting its start."""
    said = " ".join(listed.split())
    if len(said) > QUOTE_CHARS:
        said = said[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    return templates["word_list"].format(said=said)
