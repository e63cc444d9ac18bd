"""Text handling for the offline grader: clause splitting with exact spans, tokens, stems, negation, antonyms.

The word lists (stopwords, negations, spelling variants, synonyms, antonyms) are data in
`prompts/offline_lexicon.yaml`; this module only holds the rules that use them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from rag.datafiles import load_yaml_mapping, validated
from rag.settings import get_settings

# ---------------------------------------------------------------------------------------------- lexicon


class _LexiconFile(BaseModel):
    """The file as written; `StrictStr` so that YAML's bare yes/no/on (booleans) are rejected, not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    stopwords: list[StrictStr] = Field(min_length=1)
    negations: list[StrictStr] = Field(min_length=1)
    negation_exceptions: list[tuple[StrictStr, StrictStr]] = Field(default_factory=list)
    avoidance_words: list[StrictStr] = Field(default_factory=list)
    spelling_words: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    spelling_suffixes: list[tuple[StrictStr, StrictStr]] = Field(default_factory=list)
    synonyms: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    antonyms: list[tuple[StrictStr, StrictStr]] = Field(default_factory=list)
    confusables: list[tuple[StrictStr, StrictStr]] = Field(default_factory=list)
    conditionals: list[StrictStr] = Field(default_factory=list)
    symmetric_verbs: list[StrictStr] = Field(default_factory=list)
    negating_prefixes: list[StrictStr] = Field(default_factory=list)
    negating_prefix_min_stem: int = Field(default=5, ge=1)
    number_words: dict[StrictStr, int] = Field(default_factory=dict)
    abbreviations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    lowercase_only_abbreviations: list[StrictStr] = Field(default_factory=list)

    @field_validator("abbreviations")
    @classmethod
    def _lowercase_expansions(cls, table: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in table.items() if k != k.lower() or " " in k or v != v.lower() or not v.strip()]
        if bad:
            raise ValueError(f"abbreviations must map a lower-case word to lower-case words: {bad[:5]}")
        return table

    @field_validator("stopwords", "negations", "avoidance_words", "negating_prefixes")
    @classmethod
    def _single_lowercase_words(cls, words: list[str]) -> list[str]:
        bad = [w for w in words if not w or w != w.lower() or " " in w]
        if bad:
            raise ValueError(f"entries must be single lower-case words: {bad[:5]}")
        return words

    @model_validator(mode="after")
    def _consistent(self) -> _LexiconFile:
        stop = set(self.stopwords)
        overlap = sorted(stop & set(self.negations))
        if overlap:
            raise ValueError(f"words listed both as stopwords and negations: {overlap}")
        overlap = sorted((stop | set(self.negations)) & set(self.avoidance_words))
        if overlap:
            raise ValueError(f"avoidance words must be neither stopwords nor negations: {overlap}")
        antonym_words = {w for pair in [*self.antonyms, *self.confusables] for w in pair}
        overlap = sorted(stop & antonym_words)
        if overlap:
            raise ValueError(f"antonyms and confusables must not be stopwords (they would be dropped): {overlap}")
        same = [pair for pair in [*self.antonyms, *self.confusables] if pair[0] == pair[1]]
        if same:
            raise ValueError(f"an antonym pair names the same word twice: {same}")
        unknown = sorted(set(self.lowercase_only_abbreviations) - set(self.abbreviations))
        if unknown:
            raise ValueError(f"lowercase_only_abbreviations must be listed under abbreviations: {unknown}")
        return self


@dataclass(frozen=True, eq=False)
class Lexicon:
    """The validated word lists; antonyms are keyed by word form (spelling and synonyms applied, not stemmed).

    Antonyms are matched on word forms because stemming conflates words they must keep apart:
    "regions" and "regional" share the stem "region", but only "regional" is the opposite of "global".
    """

    stopwords: frozenset[str]
    negations: frozenset[str]
    negation_exceptions: frozenset[tuple[str, str]]
    spelling_words: dict[str, str]
    spelling_suffixes: tuple[tuple[str, str], ...]
    synonyms: dict[str, str]
    antonyms: dict[str, frozenset[str]]
    confusables: dict[str, frozenset[str]]
    conditionals: frozenset[str]
    avoidance_words: frozenset[str] = frozenset()
    negating_prefixes: tuple[str, ...] = ()
    negating_prefix_min_stem: int = 5
    number_words: dict[str, int] = field(default_factory=dict)
    abbreviations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lowercase_only_abbreviations: frozenset[str] = frozenset()
    symmetric_verbs: frozenset[str] = frozenset()
    """Normalised stems of verbs whose two sides can be exchanged ("A connects to B", "B connects to A")."""
    _opposites: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Memo of `opposites`; not an init field, so `dataclasses.replace` gives a changed copy its own."""

    def expansion(self, word: str) -> tuple[str, ...] | None:
        """The written-out words of an abbreviation, as the candidate wrote it ("AZs"), or None.

        Some short forms mean something else in capitals ("ms" is milliseconds, "MS" Microsoft).
        """
        lower = word.lower()
        if lower in self.lowercase_only_abbreviations and word != lower:
            return None
        return self.abbreviations.get(lower)

    def is_content(self, token: str) -> bool:
        return (
            token not in self.stopwords
            and token not in self.negations
            and not token.endswith("n't")
            and any(ch.isalnum() for ch in token)
        )

    def normalise(self, token: str) -> str:
        """The comparable form of one lower-case token: American spelling, canonical synonym, Porter stem."""
        return porter_stem(self.word_form(token))

    def word_form(self, token: str) -> str:
        """American spelling and canonical synonym of a lower-case token, without stemming.

        A listed number word is written as digits, so "three AZs" and "3 AZs" share their stems.
        """
        if token in self.number_words:
            return str(self.number_words[token])
        token = american_spelling(token, self)
        return self.synonyms.get(token, token)

    def opposites(self, word: str) -> frozenset[str]:
        """Listed antonyms, plus the word with a negating prefix added or removed ("predictable", "unpredictable")."""
        known = self._opposites.get(word)
        if known is None:
            known = self._opposites[word] = self._find_opposites(word)
        return known

    def _find_opposites(self, word: str) -> frozenset[str]:
        shortest = self.negating_prefix_min_stem
        prefixed = {prefix + word for prefix in self.negating_prefixes} if len(word) >= shortest else set()
        stripped = {
            word[len(prefix) :]
            for prefix in self.negating_prefixes
            if word.startswith(prefix) and len(word) - len(prefix) >= shortest
        }
        return self.antonyms.get(word, frozenset()) | prefixed | stripped

    def numbers(self, tokens: Iterable[str]) -> frozenset[int]:
        """The numbers the tokens state, as digits or as listed number words (`word_form` writes those as digits)."""
        return frozenset(int(form) for form in map(self.word_form, tokens) if form.isdigit())

    def confused_with(self, word: str) -> frozenset[str]:
        return self.confusables.get(word, frozenset())

    def is_hypothetical(self, sentence: str) -> bool:
        """True for a sentence that opens with a condition ("If ...", "Unless ...")."""
        words = tokenize(sentence[:40])
        return bool(words) and words[0] in self.conditionals


def _parse_lexicon(data: dict) -> Lexicon:
    raw = _LexiconFile.model_validate(data)
    suffixes = tuple(sorted(raw.spelling_suffixes, key=lambda pair: -len(pair[0])))
    partial = Lexicon(
        stopwords=frozenset(raw.stopwords),
        negations=frozenset(raw.negations),
        negation_exceptions=frozenset(raw.negation_exceptions),
        spelling_words=dict(raw.spelling_words),
        spelling_suffixes=suffixes,
        synonyms=dict(raw.synonyms),
        antonyms={},
        confusables={},
        conditionals=frozenset(raw.conditionals),
    )
    return Lexicon(
        stopwords=partial.stopwords,
        negations=partial.negations,
        negation_exceptions=partial.negation_exceptions,
        spelling_words=partial.spelling_words,
        spelling_suffixes=partial.spelling_suffixes,
        synonyms=partial.synonyms,
        antonyms=_pair_table(raw.antonyms, partial),
        confusables=_pair_table(raw.confusables, partial),
        conditionals=partial.conditionals,
        negating_prefixes=tuple(raw.negating_prefixes),
        negating_prefix_min_stem=raw.negating_prefix_min_stem,
        number_words=dict(raw.number_words),
        abbreviations={short: tuple(long.split()) for short, long in raw.abbreviations.items()},
        lowercase_only_abbreviations=frozenset(raw.lowercase_only_abbreviations),
        avoidance_words=frozenset(raw.avoidance_words),
        symmetric_verbs=frozenset(partial.normalise(word) for word in raw.symmetric_verbs),
    )


def _pair_table(pairs: Sequence[tuple[str, str]], lexicon: Lexicon) -> dict[str, frozenset[str]]:
    """Symmetric look-up of word pairs, keyed by word form."""
    table: dict[str, set[str]] = {}
    for left, right in pairs:
        a, b = lexicon.word_form(left), lexicon.word_form(right)
        if a == b:
            raise ValueError(f"the pair '{left}' / '{right}' has the same normal form '{a}'")
        table.setdefault(a, set()).add(b)
        table.setdefault(b, set()).add(a)
    return {word: frozenset(sorted(others)) for word, others in sorted(table.items())}


@lru_cache(maxsize=4)
def load_lexicon(path: Path | None = None) -> Lexicon:
    """The lexicon from `prompts/offline_lexicon.yaml` (or `path`), validated; errors name the file."""
    path = path or get_settings().prompts_dir / "offline_lexicon.yaml"
    return validated(path, load_yaml_mapping(path), _parse_lexicon)


# ---------------------------------------------------------------------------------------------- stemming


def _is_consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in "aeiou":
        return False
    if ch == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in the stem."""
    count, previous_vowel = 0, False
    for i in range(len(stem)):
        consonant = _is_consonant(stem, i)
        if consonant and previous_vowel:
            count += 1
        previous_vowel = not consonant
    return count


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    if len(word) < 3:
        return False
    return (
        _is_consonant(word, len(word) - 3)
        and not _is_consonant(word, len(word) - 2)
        and _is_consonant(word, len(word) - 1)
        and word[-1] not in "wxy"
    )


_STEP2 = (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
    ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
    ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
    ("iviti", "ive"), ("biliti", "ble"), ("logi", "log"),
)  # fmt: skip
# Unlike Porter's step 3, "-ful" is kept: "stateful" must not become "state".
_STEP3 = (("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ness", ""))
_STEP4 = (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate",
    "iti", "ous", "ive", "ize",
)  # fmt: skip


@lru_cache(maxsize=65536)
def porter_stem(word: str) -> str:
    """The Porter (1980) stem of a lower-case word, keeping "-ful".

    Words of one or two letters and non-words are kept as they are.
    """
    if len(word) <= 2 or not word.isalpha():
        return word
    # step 1a
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # step 1b
    extra = False
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    elif word.endswith("ed") and _has_vowel(word[:-2]):
        word, extra = word[:-2], True
    elif word.endswith("ing") and _has_vowel(word[:-3]):
        word, extra = word[:-3], True
    if extra:
        if word.endswith(("at", "bl", "iz")):
            word += "e"
        elif _double_consonant(word) and word[-1] not in "lsz":
            word = word[:-1]
        elif _measure(word) == 1 and _cvc(word):
            word += "e"
    # step 1c
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    for suffix, replacement in _STEP2:
        if word.endswith(suffix):
            if _measure(word[: -len(suffix)]) > 0:
                word = word[: -len(suffix)] + replacement
            break
    for suffix, replacement in _STEP3:
        if word.endswith(suffix):
            if _measure(word[: -len(suffix)]) > 0:
                word = word[: -len(suffix)] + replacement
            break
    for suffix in _STEP4:
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            if _measure(stem) > 1 and (suffix != "ion" or stem.endswith(("s", "t"))):
                word = stem
            break
    # step 5
    if word.endswith("e"):
        stem = word[:-1]
        if _measure(stem) > 1 or (_measure(stem) == 1 and not _cvc(stem)):
            word = stem
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


def american_spelling(token: str, lexicon: Lexicon) -> str:
    """The American spelling of a lower-case token: the listed word, else the listed suffix swapped.

    The suffix rule is blind ("otherwise" -> "otherwize"); that is harmless for stems, which both sides
    share, but text meant for the model should respell only where the model knows the result.
    """
    if token in lexicon.spelling_words:
        return lexicon.spelling_words[token]
    if len(token) >= 6:
        for british, american in lexicon.spelling_suffixes:
            if token.endswith(british):
                return token[: -len(british)] + american
    return token


# ---------------------------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_TOKEN_ANY_CASE = re.compile(_TOKEN.pattern, re.IGNORECASE)


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


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated and slashed words become separate tokens; "n't" stays attached."""
    return [t.replace("’", "'") for t in _TOKEN.findall(text.lower())]


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


# ---------------------------------------------------------------------------------------------- clauses


@dataclass(frozen=True)
class Span:
    """A piece of the answer: `text == source[start:end]` always holds."""

    start: int
    end: int
    text: str


_BULLET = re.compile(r"^\s*(?:[-*•·▪‣◦]|\d{1,2}[.)]|[a-z][.)])\s+", re.MULTILINE)
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "cf.", "no.", "fig.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+|;\s*|:\s+(?=\S+(?:\s+\S+){3,})")
_CLAUSE_BREAK = re.compile(
    r",\s+(?:and|but|so|yet|which|whereas|while|although|though|because|since|however|unless|otherwise)\b\s*"
    r"|\s+(?:but|whereas|although|though|however|unless|otherwise)\b,?\s*"
    r"|,\s+(?=(?:then|therefore|thus|meaning|so)\b)"
    r"|\s+so\s+(?!(?:that|much|many|far|long|as|on|forth|called)\b)"
    r"|\s+(?:and|while|because|since|therefore)\s+"
    r"(?=(?:it|they|he|she|the|this|that|these|those|you|we|i|there|each|every|all|its|their|a|an|one|if|when|no)\b)"
    r"|\s+[-–—]\s+",
    re.IGNORECASE,
)
MIN_CLAUSE_WORDS = 3


def _trim(source: str, start: int, end: int) -> Span | None:
    while start < end and (source[start].isspace() or source[start] in ",;:-–—*•·"):
        start += 1
    while end > start and (source[end - 1].isspace() or source[end - 1] in ",;:-–—"):
        end -= 1
    if start >= end or not any(ch.isalnum() for ch in source[start:end]):
        return None
    return Span(start, end, source[start:end])


def _cut(source: str, start: int, end: int, pattern: re.Pattern[str]) -> list[Span]:
    pieces: list[Span] = []
    cursor = start
    for match in pattern.finditer(source, start, end):
        if pattern is _SENTENCE_END and source[max(start, match.start() - 6) : match.start()].lower().endswith(
            _ABBREVIATIONS
        ):
            continue
        piece = _trim(source, cursor, match.start())
        if piece:
            pieces.append(piece)
        cursor = match.end()
    piece = _trim(source, cursor, end)
    if piece:
        pieces.append(piece)
    return pieces


def _merge_short(source: str, spans: list[Span]) -> list[Span]:
    """Glue fragments of fewer than MIN_CLAUSE_WORDS words onto a neighbour, so no clause is a lone word.

    A label before a colon ("API Gateway: routing, throttling") joins what follows it; otherwise a
    fragment joins the piece before it on the same line, else the piece after it on the same line,
    else stays alone (a one-word bullet item is still an item).
    """

    def joined(first: Span, last: Span) -> Span:
        return Span(first.start, last.end, source[first.start : last.end])

    def same_line(first: Span, last: Span) -> bool:
        return "\n" not in source[first.end : last.start]

    merged: list[Span] = []
    carried: Span | None = None
    for index, span in enumerate(spans):
        if carried is not None:
            span, carried = joined(carried, span), None
        following = spans[index + 1] if index + 1 < len(spans) else None
        if len(tokenize(span.text)) >= MIN_CLAUSE_WORDS:
            merged.append(span)
        elif following and same_line(span, following) and source[span.end : span.end + 1] == ":":
            carried = span
        elif merged and same_line(merged[-1], span):
            merged.append(joined(merged.pop(), span))
        elif following and same_line(span, following):
            carried = span
        else:
            merged.append(span)
    return merged


def split_sentences(text: str) -> list[Span]:
    """Sentences, bullet items, lines and semicolon-separated parts, as exact spans of `text`."""
    spans: list[Span] = []
    bullets = [m.start() for m in _BULLET.finditer(text)]
    bounds = sorted({0, *bullets, len(text)})
    for start, end in itertools.pairwise(bounds):
        bullet = _BULLET.match(text, start)
        body_start = bullet.end() if bullet and start in bullets else start
        spans.extend(_cut(text, body_start, end, _SENTENCE_END))
    return _merge_short(text, spans)


def split_clauses(text: str) -> list[Span]:
    """Clauses: sentences further cut at "but", "whereas", ", and", ", so", dashes and similar breaks."""
    clauses: list[Span] = []
    for sentence in split_sentences(text):
        clauses.extend(_merge_short(text, _cut(text, sentence.start, sentence.end, _CLAUSE_BREAK)))
    return clauses
