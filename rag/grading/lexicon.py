"""The offline grader's word lists, validated, and the look-ups on them (word forms, opposites, numbers).

The word lists (stopwords, negations, spelling variants, synonyms, antonyms) are data in
`prompts/offline_lexicon.yaml`; this module only validates them and holds the rules that read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from rag.datafiles import SHIPPED_PROMPTS_DIR, load_yaml_mapping, validated
from rag.grading.stemming import porter_stem, tokenize

LEXICON_FILE = "offline_lexicon.yaml"


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
    opposite_proforms: list[StrictStr] = Field(default_factory=list)
    softeners: list[StrictStr] = Field(default_factory=list)
    uncertainty_frames: list[list[StrictStr]] = Field(default_factory=list)
    uncertain_complements: list[StrictStr] = Field(default_factory=list)
    ability_modals: list[StrictStr] = Field(default_factory=list)
    relation_words: list[StrictStr] = Field(default_factory=list)
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

    @field_validator(
        "stopwords",
        "negations",
        "avoidance_words",
        "negating_prefixes",
        "opposite_proforms",
        "softeners",
        "uncertain_complements",
        "ability_modals",
        "relation_words",
    )
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
        bad_frames = [frame for frame in self.uncertainty_frames if not frame or any(w != w.lower() for w in frame)]
        if bad_frames:
            raise ValueError(f"uncertainty_frames must be non-empty lists of lower-case words: {bad_frames[:5]}")
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
    opposite_proforms: frozenset[str] = frozenset()
    """Words that stand for the opposite of what was just said ("or maybe the opposite")."""
    softeners: frozenset[str] = frozenset()
    """Words that only soften a statement ("maybe", "possibly")."""
    uncertainty_frames: tuple[tuple[str, ...], ...] = ()
    """Token sequences that say the speaker does not know what follows ("not sure", "no idea")."""
    uncertain_complements: frozenset[str] = frozenset()
    """Words that open what an uncertainty frame is about ("whether", "if")."""
    ability_modals: frozenset[str] = frozenset()
    """Modals after which alternatives are abilities, not doubt ("can allow or deny")."""
    relation_words: frozenset[str] = frozenset()
    """Words beyond the stopwords that relate the terms of a statement (prepositions, "->"): a run of
    words without any of them, or any stopword, is a word list (rag/grading/wordlists.py)."""
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
        opposite_proforms=frozenset(raw.opposite_proforms),
        softeners=frozenset(raw.softeners),
        uncertainty_frames=tuple(tuple(frame) for frame in raw.uncertainty_frames),
        uncertain_complements=frozenset(raw.uncertain_complements),
        ability_modals=frozenset(raw.ability_modals),
        relation_words=frozenset(raw.relation_words),
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
def load_lexicon(path: Path = SHIPPED_PROMPTS_DIR / LEXICON_FILE) -> Lexicon:
    """The lexicon from `prompts/offline_lexicon.yaml` (or `path`), validated; errors name the file."""
    return validated(path, load_yaml_mapping(path), _parse_lexicon)


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
