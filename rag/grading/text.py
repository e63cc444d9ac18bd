"""Text analysis for the offline grader: abbreviations written out, content stems, negation scope, antonyms.

The word lists these rules use are in `rag.grading.lexicon`; tokens and stems come from `rag.grading.stemming`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.grading.lexicon import Lexicon, load_lexicon
from rag.grading.stemming import TOKEN, porter_stem, tokenize

_TOKEN_ANY_CASE = re.compile(TOKEN.pattern, re.IGNORECASE)


_ABBREVIATED_WORD = re.compile(r"(?<![\w\-/.’'])[a-z]+(?![\w\-/’'])", re.IGNORECASE)


@dataclass(frozen=True)
class Expanded:
    """A text with its abbreviations written out, and where each of its characters came from.

    `origin[i]` is the offset in the original text of character i (one past the end included), so a
    token found in `text` can be placed in the original: evidence always quotes the candidate's words.
    """

    text: str
    origin: tuple[int, ...]


def expand_abbreviations(text: str, lexicon: Lexicon, respell: Callable[[str], str] | None = None) -> Expanded:
    """The text with every listed abbreviation ("AZs", "ASG") replaced by its expansion.

    MiniLM knows "availability zones" far better than "AZs". Here a hyphenated or slashed word
    ("Multi-AZ") is a name of its own and is left alone; `analyse`, which splits hyphens, writes out
    its parts for the stemmer all the same, on the answer's side and the key point's alike.

    `respell`, given a lower-case word, returns the spelling the model should read (Matcher passes one
    that writes British spellings the American way), so "analyse" and "analyze" embed alike.
    """
    if not lexicon.abbreviations and respell is None:
        return Expanded(text, tuple(range(len(text) + 1)))
    parts: list[str] = []
    origin: list[int] = []
    cursor = 0
    for match in _ABBREVIATED_WORD.finditer(text):
        long = lexicon.expansion(match.group())
        if long is not None:
            replacement = " ".join(long)
        elif respell is not None and (spelled := respell(match.group().lower())) != match.group().lower():
            replacement = spelled
        else:
            continue
        parts.append(text[cursor : match.start()])
        origin.extend(range(cursor, match.start()))
        parts.append(replacement)
        origin.extend([match.start()] * len(replacement))
        cursor = match.end()
    parts.append(text[cursor:])
    origin.extend(range(cursor, len(text) + 1))
    return Expanded("".join(parts), tuple(origin))


def _written_out_tokens(text: str, lexicon: Lexicon) -> list[str]:
    """`tokenize`, with every abbreviation replaced by the words it stands for."""
    words: list[str] = []
    for written in _TOKEN_ANY_CASE.findall(text):
        token = written.lower().replace("’", "'")
        words.extend(lexicon.expansion(written) or (token,))
    return words


@dataclass(frozen=True)
class Analysis:
    """What the grader needs from one piece of text (usually a clause): content stems and negation scope."""

    tokens: tuple[str, ...]
    stems: tuple[str, ...]
    """Stems of the content words, in order, repeats kept."""
    negations: int
    negated_stems: frozenset[str]
    """Stems only ever inside a negation's scope ("guarantee" and "order" in "does not guarantee order")."""
    plain_stems: frozenset[str]
    """Stems never inside a negation's scope."""
    negation_heads: frozenset[str]
    """The first content stem after each negation ("guarantee"): what the negation is about."""
    words: tuple[str, ...]
    """Word forms of the content words (for antonyms), in order."""
    negated_words: frozenset[str]
    numbers: frozenset[int] = frozenset()
    """The numbers the text states (`Lexicon.numbers`), compared by `numbers_differ`."""
    avoided_words: frozenset[str] = frozenset()
    """Word forms only ever after an avoidance word ("internet" in "bypassing the internet"): not plain, not negated."""

    @property
    def stem_set(self) -> frozenset[str]:
        return frozenset(self.stems)

    @property
    def negated(self) -> bool:
        return self.negations % 2 == 1


_INTERJECTION = re.compile(r"^\s*(?:no|yes|nope|yeah)\s*[,.!;:]", re.IGNORECASE)
_SCOPE_BREAK = re.compile(r"[,;:()\[\]]|\b(?:and|or|but|while|whereas|because|since|so|which|unless|although)\b", re.I)
PREFIX_NEGATION = "non"


def is_negation_cue(tokens: Sequence[str], i: int, lexicon: Lexicon) -> bool:
    token = tokens[i]
    if token not in lexicon.negations and not token.endswith("n't"):
        return False
    following = tokens[i + 1] if i + 1 < len(tokens) else ""
    return (token, following) not in lexicon.negation_exceptions


@lru_cache(maxsize=65536)
def _analyse_cached(text: str, lexicon: Lexicon) -> Analysis:
    """A negation's scope runs from the cue to the next comma, conjunction or bracket ("non-" covers one word).

    An avoidance word ("bypassing", "instead of") leaves the rest of its scope neither plain nor
    negated: "bypassing the internet" says what "no internet" says, and "can be bypassed by admins"
    what "admins can bypass it" says, so no word there reverses or is reversed.
    A leading "No," or "Yes," answers the interviewer and negates nothing.
    """
    interjection = _INTERJECTION.match(text)
    body = text[interjection.end() :] if interjection else text
    tokens: list[str] = list(tokenize(text[: interjection.end()])) if interjection else []
    stems: list[str] = []
    words_seen: list[str] = []
    negated: set[str] = set()
    plain: set[str] = set()
    negated_forms: set[str] = set()
    plain_forms: set[str] = set()
    avoided_forms: set[str] = set()
    heads: set[str] = set()
    negations = 0
    for segment in _SCOPE_BREAK.split(body):
        words = _written_out_tokens(segment, lexicon)
        tokens.extend(words)
        parity, prefix_only, awaiting_head, avoiding = 0, False, False, False
        for i, word in enumerate(words):
            if is_negation_cue(words, i, lexicon):
                negations += 1
                parity ^= 1
                prefix_only, awaiting_head = word == PREFIX_NEGATION, True
                continue
            if not lexicon.is_content(word):
                continue
            form = lexicon.word_form(word)
            stem = porter_stem(form)
            stems.append(stem)
            words_seen.append(form)
            if avoiding:
                avoided_forms.add(form)
            else:
                (negated if parity else plain).add(stem)
                (negated_forms if parity else plain_forms).add(form)
                if parity and awaiting_head:
                    heads.add(stem)
            awaiting_head = False
            avoiding = avoiding or word in lexicon.avoidance_words
            if prefix_only:
                parity, prefix_only = parity ^ 1, False
    return Analysis(
        tokens=tuple(tokens),
        stems=tuple(stems),
        negations=negations,
        negated_stems=frozenset(negated - plain),
        plain_stems=frozenset(plain - negated),
        negation_heads=frozenset(heads),
        words=tuple(words_seen),
        negated_words=frozenset(negated_forms - plain_forms),
        numbers=lexicon.numbers(tokens),
        avoided_words=frozenset(avoided_forms - negated_forms - plain_forms),
    )


def analyse(text: str, lexicon: Lexicon | None = None) -> Analysis:
    return _analyse_cached(text, lexicon or load_lexicon())


def antonym_pairs(clause: Iterable[str], reference: Iterable[str], lexicon: Lexicon) -> list[tuple[str, str]]:
    """(clause word, reference word) pairs where the clause has the opposite of the reference's word.

    A word counts only if the reference lacks it and the clause lacks the reference's word, so a
    clause that names both sides of a contrast ("stateful, unlike stateless NACLs") swaps nothing.
    """
    return swapped_pairs(clause, reference, lexicon.opposites)


def confused_pairs(clause: Iterable[str], reference: Iterable[str], lexicon: Lexicon) -> list[tuple[str, str]]:
    """(clause word, reference word) pairs where the clause names the term the reference's is confused with."""
    return swapped_pairs(clause, reference, lexicon.confused_with)


def swapped_pairs(
    clause: Iterable[str], reference: Iterable[str], partners: Callable[[str], frozenset[str]]
) -> list[tuple[str, str]]:
    clause_set, reference_set = set(clause), set(reference)
    pairs = []
    for word in sorted(clause_set - reference_set):
        swapped = (partners(word) & reference_set) - clause_set
        if swapped:
            pairs.append((word, min(swapped)))
    return pairs


def antonym_flips(clause: Iterable[str], reference: Iterable[str], lexicon: Lexicon) -> int:
    """How many words of `clause` stand where `reference` has their opposite ("stateless" for "stateful")."""
    return len(antonym_pairs(clause, reference, lexicon))


def polarity_flips(clause: Analysis, reference: Analysis, lexicon: Lexicon, *, heads_only: bool = True) -> int:
    """How many times the clause reverses what the reference says; an odd count states the opposite.

    Negation: one flip when a shared word is negated on one side and plain on the other, provided
    the negation is about that word (it is the first content word after the cue). So "SQS
    guarantees ordering" flips "does not guarantee order", while "the CIDR blocks can't overlap"
    agrees with "cannot have overlapping CIDR blocks", "messages can arrive out of order" does not
    flip it, and negations of words the reference does not use ("without the NAT path") reverse nothing.
    When both sides negate a shared word, the negations sit in different places of the same
    statement ("does not serve reads", "serves no reads") and nothing is reversed.
    With `heads_only=False` any shared word negated on one side only counts (a stricter test of
    agreement, used before reporting a misconception).
    Antonyms: one flip per swap ("stateless" for "stateful") unless the swapped word is negated on
    exactly one side ("not stateless" agrees with "stateful").
    Words after an avoidance word ("bypassing the internet") take part in neither rule.
    Numbers: one flip when each side states a number the other lacks (`numbers_differ`).
    """

    def reverses(negated_side: Analysis, plain_side: Analysis, stem: str) -> bool:
        return (
            (stem in negated_side.negation_heads or not heads_only)
            and stem in negated_side.negated_stems
            and stem in plain_side.plain_stems
        )

    shared = sorted(clause.stem_set & reference.stem_set)
    both_negate = any(s in clause.negated_stems and s in reference.negated_stems for s in shared)
    flips = int(
        not both_negate and any(reverses(clause, reference, s) or reverses(reference, clause, s) for s in shared)
    )
    for word, opposite in antonym_pairs(clause.words, reference.words, lexicon):
        if word in clause.avoided_words or opposite in reference.avoided_words:
            continue
        if (word in clause.negated_words) == (opposite in reference.negated_words):
            flips += 1
    return flips + int(numbers_differ(clause, reference))


def numbers_differ(clause: Analysis, reference: Analysis) -> bool:
    """Each side states a number the other lacks ("a 1 KB read" against "a 4 KB read"): a different value.

    A number only one side states ("up to 15 replicas, failover in 30 seconds" against "up to 15
    replicas") adds detail and reverses nothing.
    """
    return bool(clause.numbers - reference.numbers) and bool(reference.numbers - clause.numbers)
