"""Hedged clauses: a clause offering a statement together with its opposite, or framing it as unknown, asserts nothing.

Three readings of a clause (the word lists are in the lexicon):

- two alternatives joined by "or" reverse each other by the grader's own polarity rule (a negation
  or an antonym; numbers aside, since "2 or 3 AZs" reverses nothing): "is stateful or stateless",
  "Either SQS keeps the message, or SQS does not keep it"; after an ability modal they are abilities,
  not doubt ("NACLs can allow or deny traffic");
- an alternative after "or" or "but" is elliptical: a negation or an opposite pro-form with only
  softeners and function words around it ("..., or not", "..., but possibly not", "..., or maybe
  the opposite");
- an uncertainty frame is followed by "whether" or "if": "I'm not sure whether ...", "no idea if ...".

Two constructions look alike and state something, so they are not hedges: alternatives inside an
"if"/"whether" complement are an embedded question ("to see if it will run or not", "whether the light is
on or off depends on the switch"), and reversed alternatives modifying one noun are a range ("inbound or
outbound traffic", "public or private subnets"), read from the small parser only when alternatives reverse.

A retraction reaches back over the earlier clauses of its sentence, a frame forward over the later ones
(`hedged_clauses`).

A hedged clause earns no key point and states no misconception; it is not a contradiction either,
since it does not state the opposite alone.

Known false firings: an embedded yes/no question with no "if" or "whether" before it ("That it has seeds
or not.", "it comes down to the route or not"); real alternatives that reverse ("the key is either simple or
composite", "private instances use the endpoint, or public ones the internet gateway"); and an "or" to which
the small parser attaches no second conjunct, where the text around it decides. The option is on as a
stated trade-off against what hedged answers earn (docs/decisions.md).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.grading.lexicon import Lexicon
from rag.grading.roles import parse
from rag.grading.stemming import tokenize
from rag.grading.text import analyse, is_negation_cue, numbers_differ, polarity_flips

_ALTERNATIVE = re.compile(r"\b(either|or|but)\b", re.IGNORECASE)
_PAUSE = re.compile(r"[,;:()\[\]]")
NOUN_MODIFIER_DEPS = frozenset({"amod", "compound", "nmod", "nummod", "poss"})
RANGE_HEAD_TAGS = frozenset({"NOUN", "PROPN"})
"""A one-word alternative followed by a word with one of these tags modifies it: a range of that noun."""


def hedged_clauses(clauses: Sequence[str], sentence_of: Sequence[int], lexicon: Lexicon) -> tuple[bool, ...]:
    """Per clause: whether it asserts nothing, reading its sentence's other clauses too.

    A retraction ("..., or maybe the opposite") takes back what was said before it in its sentence,
    so it hedges its own clause and the earlier ones; an uncertainty frame ("I'm not sure whether")
    covers what follows it, so it hedges its own clause and the later ones; two reversed
    alternatives hedge the clause that holds them.
    """
    readings = [_reading(text, lexicon) for text in clauses]
    hedged = []
    for index, sentence in enumerate(sentence_of):
        same = [j for j, s in enumerate(sentence_of) if s == sentence]
        hedged.append(
            readings[index].reversed
            or any(readings[j].uncertain for j in same if j <= index)
            or any(readings[j].retracted for j in same if j >= index)
        )
    return tuple(hedged)


def is_hedged(clause: str, lexicon: Lexicon) -> bool:
    """True when one clause, read alone, offers a statement with its opposite or frames it as unknown."""
    reading = _reading(clause, lexicon)
    return reading.reversed or reading.uncertain or reading.retracted


@dataclass(frozen=True)
class _Reading:
    reversed: bool
    """Two alternatives joined by "or" reverse each other."""
    retracted: bool
    """An alternative after "or" or "but" is only a negation or an opposite pro-form."""
    uncertain: bool
    """An uncertainty frame followed by "whether" or "if"."""


@lru_cache(maxsize=16384)
def _reading(clause: str, lexicon: Lexicon) -> _Reading:
    pieces = _alternatives(clause)
    retracted = reversed_ = False
    for (_, _, before), (word, offset, after) in itertools.pairwise(pieces):
        if word not in ("or", "but") or _in_embedded_question(clause[:offset], lexicon):
            continue
        retracted = retracted or _elliptical_opposite(_PAUSE.split(after, maxsplit=1)[0], lexicon)
        reversed_ = reversed_ or (
            word == "or" and _reverse(before, after, lexicon) and _joined_reverse(clause, offset, lexicon)
        )
    return _Reading(reversed=reversed_, retracted=retracted, uncertain=_uncertain(tokenize(clause), lexicon))


def _in_embedded_question(text_before: str, lexicon: Lexicon) -> bool:
    """An "if"/"whether" earlier in the clause opens a complement the alternative belongs to."""
    return not lexicon.uncertain_complements.isdisjoint(tokenize(text_before))


def _joined_reverse(clause: str, offset: int, lexicon: Lexicon) -> bool:
    """Whether the two things the "or" at `offset` joins reverse each other, in the small parser's reading.

    The text around an "or" can reverse where what it joins does not: in "endpoints let private instances
    reach S3 with no internet gateway, NAT or public IP address needed" the antonym sits outside the
    alternatives. So the first conjunct's words before the "or" (without the second conjunct's) are read
    against the second conjunct's. Alternatives that modify one noun are a range, not doubt: the first
    conjunct is a noun modifier, or the second is one word followed by a noun ("so inbound or outbound
    return traffic", where the parser may attach "inbound" elsewhere but tags "return" a noun). Where the
    parser finds no conjunct for the "or", the text around it decides.
    """
    doc = parse(clause)
    for token in doc:
        if token.idx != offset or token.dep_ != "cc":
            continue
        first = token.head
        if first.dep_ in NOUN_MODIFIER_DEPS:
            return False
        second = next((child for child in first.children if child.dep_ == "conj" and child.i > token.i), None)
        if second is None:
            return True
        second_words = list(second.subtree)
        if len(second_words) == 1 and second.i + 1 < len(doc) and doc[second.i + 1].pos_ in RANGE_HEAD_TAGS:
            return False
        inside_second = {word.i for word in second_words}
        first_text = " ".join(word.text for word in first.subtree if word.i < token.i and word.i not in inside_second)
        return _reverse(first_text, " ".join(word.text for word in second_words), lexicon)
    return True


def _uncertain(tokens: list[str], lexicon: Lexicon) -> bool:
    for frame in lexicon.uncertainty_frames:
        width = len(frame)
        for start in range(len(tokens) - width):
            if tuple(tokens[start : start + width]) == frame and tokens[start + width] in lexicon.uncertain_complements:
                return True
    return False


def _alternatives(clause: str) -> list[tuple[str, int, str]]:
    """The clause cut at "either", "or" and "but": (the word that opens each piece, "" for the first; the
    word's offset in the clause; the piece's text)."""
    pieces: list[tuple[str, int, str]] = []
    word, start, cursor = "", 0, 0
    for match in _ALTERNATIVE.finditer(clause):
        pieces.append((word, start, clause[cursor : match.start()]))
        word, start, cursor = match.group(1).lower(), match.start(), match.end()
    pieces.append((word, start, clause[cursor:]))
    return pieces


def _elliptical_opposite(text: str, lexicon: Lexicon) -> bool:
    """Only a negation or an opposite pro-form, with softeners and function words: "not", "maybe the opposite"."""
    tokens = tokenize(text)
    opposite = False
    for index, token in enumerate(tokens):
        if is_negation_cue(tokens, index, lexicon) or token in lexicon.opposite_proforms:
            opposite = True
        elif token not in lexicon.softeners and lexicon.is_content(token):
            return False
    return opposite


def _reverse(before: str, after: str, lexicon: Lexicon) -> bool:
    if lexicon.ability_modals.intersection(tokenize(before)):
        return False
    first, second = analyse(before, lexicon), analyse(after, lexicon)
    if not first.stems or not second.stems:
        return False
    flips = polarity_flips(second, first, lexicon) - int(numbers_differ(second, first))
    return flips % 2 == 1
