"""Key-point matching: align each key point (and misconception claim) with the answer's clauses.

The answer is cut into clauses, and the candidate evidence units are the clauses, pairs of adjacent
clauses, and the whole answer when it is short. One MiniLM forward pass over the answer's sentences
gives contextual token vectors; a unit's vector is the mean of its tokens (MiniLM's own pooling).
For every claim and unit the matcher computes:

- the cosine of claim and unit, and of question and unit;
- token recall: how well the claim's words that the question does not already contain are matched
  by the unit's tokens (question demoting: restating the question earns nothing);
- exact recall of those words' stems.

A logistic model fitted on SciEntsBank (evals/fit_offline.py) turns them into the probability that
the unit states the claim. Polarity is handled by rules, because embeddings barely see it: a unit
whose clause negates the claim or uses an antonym ("stateless" for "stateful") can never earn the
claim, it can only contradict it. Misconceptions go through the same alignment, and a unit that
states a misconception earns no key point.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.datafiles import validated
from rag.embeddings import Embedder, get_embedder
from rag.errors import ConfigError
from rag.grading.clauses import Span, split_clauses, split_sentences
from rag.grading.lexicon import Lexicon, american_spelling, load_lexicon
from rag.grading.roles import RoleReader
from rag.grading.text import Analysis, Expanded, analyse, antonym_flips, expand_abbreviations, polarity_flips

PARAMS_PATH = Path(__file__).with_name("offline_params.json")

CANDIDATE_FEATURES: tuple[str, ...] = (
    "cos_claim_unit",
    "cos_question_unit",
    "cos_claim_question",
    "token_recall_novel",
    "token_recall_content",
    "stem_recall_novel",
    "stem_recall_all",
    "focus",
    "token_precision",
    "novel_share",
    "token_recall_distinct",
    "token_recall_distinct_sq",
)
"""Every feature the matcher can compute; the params file names the ones the fitted model uses."""

DECIMALS = 4
WHOLE_ANSWER_MAX_CLAUSES = 4
WHOLE_ANSWER_MAX_SENTENCES = 2
MAX_TOKENS = 256
MAX_CHUNK_CHARS = 900
PAD_MULTIPLE = 32
"""Sequence lengths rounded up to this: fewer distinct shapes for the CPU kernels to set up."""
FLIP_MIN_OVERLAP = 0.5
STRONG_FLIP_SHARED = 2
ROLE_CHECK_OVERLAP = 0.75
"""A clause is parsed for a role swap only when it holds at least this share of the claim part's words."""
QUESTION_ECHO_SIMILARITY = 0.8
QUESTION_ECHO_COSINE = 0.9
CACHE_SIZE = 4096
SPELLING_CACHE_SIZE = 65536  # distinct words whose model spelling is remembered
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")


def _round(values: np.ndarray) -> np.ndarray:
    return np.round(values.astype(np.float64), DECIMALS)


# ---------------------------------------------------------------------------------------------- parameters


class Thresholds(BaseModel):
    """Probability cut-offs that turn match probabilities into verdicts and findings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    covered: float = Field(ge=0, le=1)
    partly: float = Field(ge=0, le=1)
    contradicted: float = Field(ge=0, le=1, description="Match of a unit that states the claim's opposite.")
    misconception: float = Field(ge=0, le=1)
    misconception_margin: float = Field(
        ge=-1, le=1, description="How much closer (cosine) the unit must be to the misconception than to any key point."
    )
    off_topic: float = Field(ge=0, le=1, description="Below this best match everywhere, the answer is off topic.")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.partly > self.covered:
            raise ValueError("the 'partly' threshold must not exceed the 'covered' threshold")
        return self


class MatchParams(BaseModel):
    """The fitted logistic model and the thresholds, stored in offline_params.json."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: int
    features: tuple[str, ...] = Field(min_length=1)
    weights: tuple[float, ...]
    bias: float
    thresholds: Thresholds
    score_threshold: float = Field(ge=0, le=10, description="Correct iff score >= this (SciEntsBank 2-way).")
    role_swaps: bool = Field(
        default=False, description="A clause that exchanges the claim's agent and patient states its opposite."
    )
    misconception_paraphrases: bool = Field(
        default=False, description="A misconception is also recognised by its listed paraphrases."
    )

    @model_validator(mode="after")
    def _shapes(self) -> MatchParams:
        unknown = [name for name in self.features if name not in CANDIDATE_FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; refit with `python -m evals.fit_offline`")
        if len(self.weights) != len(self.features):
            raise ValueError("one weight per feature is needed")
        return self

    @property
    def columns(self) -> list[int]:
        return [CANDIDATE_FEATURES.index(name) for name in self.features]


def load_params(path: Path | None = None) -> MatchParams:
    path = path or PARAMS_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing; run `python -m evals.fit_offline` to create it") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    return validated(path, data, MatchParams.model_validate)


def save_params_section(name: str, value: dict, path: Path | None = None) -> Path:
    """Replace one section (e.g. `review`) of offline_params.json, keeping the rest as it is."""
    path = path or PARAMS_PATH
    data = json.loads(path.read_text(encoding="utf-8"))
    data[name] = value
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def default_params() -> MatchParams:
    return load_params()


# ---------------------------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Encoded:
    """Contextual token vectors of a text (without [CLS]/[SEP]) and the text's sentence vector."""

    hidden: np.ndarray
    """Raw last-layer states, one row per token: means of these are MiniLM's sentence vectors."""
    tokens: np.ndarray
    """The same rows, L2-normalised, for token-to-token cosines."""
    starts: np.ndarray
    ends: np.ndarray
    pooled: np.ndarray


def quantized_copy(transformer: Any) -> Any:
    """An int8 copy of the model's linear layers (dynamic quantization), leaving the original untouched.

    On this 2-core CPU it runs MiniLM about 1.6x faster; the grader's features are fitted on its output.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(transformer), {torch.nn.Linear}, dtype=torch.qint8
        ).eval()


class TokenEncoder:
    """One MiniLM forward pass per batch of texts, keeping the token vectors that `Embedder.embed` pools away.

    Uses the embedder's checksum-verified model, by default an int8 copy of it (`quantized_copy`); with
    `quantized=False` the pooled vector equals `Embedder.embed` (mean over all tokens including
    [CLS]/[SEP], then L2 normalisation). Retrieval always uses the embedder's own float model.
    """

    def __init__(self, embedder: Embedder, *, quantized: bool = True) -> None:
        self.model = embedder.model
        self.tokenizer = self.model.tokenizer
        original = self.model[0].auto_model
        self.hidden_size = int(original.config.hidden_size)
        self.transformer = quantized_copy(original) if quantized else original
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        if not texts:
            return []
        import torch

        with self._lock, torch.inference_mode():
            batch = self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
                return_offsets_mapping=True,
                pad_to_multiple_of=PAD_MULTIPLE,
            )
            offsets = batch.pop("offset_mapping").numpy()
            mask = batch["attention_mask"]
            hidden = self.transformer(**batch).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=1)
            hidden_np, pooled_np, lengths = hidden.numpy(), pooled.numpy(), mask.sum(1).numpy()
        results = []
        for i in range(len(texts)):
            rows = hidden_np[i, 1 : int(lengths[i]) - 1].astype(np.float32)
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            results.append(
                Encoded(
                    hidden=rows,
                    tokens=rows / np.maximum(norms, 1e-12),
                    starts=offsets[i, 1 : int(lengths[i]) - 1, 0].astype(np.int64),
                    ends=offsets[i, 1 : int(lengths[i]) - 1, 1].astype(np.int64),
                    pooled=pooled_np[i].astype(np.float32),
                )
            )
        return results


# ---------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Unit:
    """A candidate piece of evidence: one clause, two adjacent clauses, or the whole short answer."""

    span: Span
    clauses: tuple[int, ...]
    within_sentence: bool = True


def _sentence_index(sentences: Sequence[Span], span: Span) -> int:
    return next((i for i, s in enumerate(sentences) if s.start <= span.start < s.end), -1)


def build_units(text: str, clauses: Sequence[Span], sentences: Sequence[Span] = ()) -> list[Unit]:
    """Clauses, windows of two adjacent clauses, and the whole answer when it is short.

    Short means three or four clauses in one or two sentences, the shape of a one-line answer. Three
    sentences, or three bullets, are separate statements: read as one unit they would half-match a
    key point that names a bit of each.
    `sentences` tells which windows cross a sentence boundary (misconceptions are not read across one).
    """

    def sentence_of(span: Span) -> int:
        return _sentence_index(sentences, span)

    units = [Unit(span, (i,)) for i, span in enumerate(clauses)]
    for i in range(len(clauses) - 1):
        start, end = clauses[i].start, clauses[i + 1].end
        same = sentence_of(clauses[i]) == sentence_of(clauses[i + 1])
        units.append(Unit(Span(start, end, text[start:end]), (i, i + 1), same))
    spanned = len({sentence_of(c) for c in clauses})
    if 2 < len(clauses) <= WHOLE_ANSWER_MAX_CLAUSES and spanned <= WHOLE_ANSWER_MAX_SENTENCES:
        start, end = clauses[0].start, clauses[-1].end
        same = spanned == 1
        units.append(Unit(Span(start, end, text[start:end]), tuple(range(len(clauses))), same))
    return units


@dataclass(frozen=True)
class AnswerView:
    """The answer cut into clauses and units, with each unit's tokens and vector."""

    text: str
    sentences: tuple[Span, ...]
    clauses: tuple[Span, ...]
    clause_analyses: tuple[Analysis, ...]
    clause_sentence: tuple[int, ...]
    """The index of the sentence each clause belongs to."""
    units: tuple[Unit, ...]
    unit_stems: tuple[frozenset[str], ...]
    unit_tokens: tuple[np.ndarray, ...]
    """Per unit: the indices of its rows in `tokens`."""
    unit_content_tokens: tuple[np.ndarray, ...]
    unit_masks: np.ndarray
    """Units x tokens: True where the token lies in the unit (the vectorised form of `unit_tokens`)."""
    segment_starts: np.ndarray
    """The first token of each segment: the tokens cut at every unit's first and last token."""
    unit_segments: np.ndarray
    """Units x segments: True where the segment lies in the unit (every unit is a run of whole segments)."""
    tokens: np.ndarray
    vectors: np.ndarray
    """One L2-normalised vector per unit."""
    hypothetical: tuple[bool, ...] = ()
    """Per clause: its sentence opens with a condition."""
    memo: dict = field(default_factory=dict, compare=False, repr=False)
    """Per-claim results already computed for this answer (clause polarities, unit scores)."""


@dataclass(frozen=True)
class ClaimView:
    """A key point or misconception claim, with its words split by whether the question already has them."""

    text: str
    stems: frozenset[str]
    novel: frozenset[str]
    parts: tuple[Analysis, ...]
    vector: np.ndarray
    tokens: np.ndarray
    novel_tokens: np.ndarray
    content_tokens: np.ndarray
    distinct_tokens: np.ndarray
    """Novel tokens that also have no near-synonym in the question ("organisational" for "Organizations")."""


@dataclass(frozen=True)
class QuestionView:
    text: str
    stems: frozenset[str]
    vector: np.ndarray


@dataclass(frozen=True)
class Polarity:
    """Antonym swaps plus negation mismatch (`flips`) and how much of the claim part the clause addresses."""

    flips: int
    overlap: float
    shared: int = 0
    """Words the clause and the claim part have in common (antonyms not counted)."""

    @property
    def reversed(self) -> bool:
        return self.flips % 2 == 1 and self.overlap >= FLIP_MIN_OVERLAP


@dataclass(frozen=True)
class UnitScore:
    unit: int
    probability: float
    flipped: bool
    cosine: float
    stating: bool
    """May earn the claim (see `Matcher.stating_mask`)."""


@dataclass(frozen=True)
class ClaimMatch:
    """How the answer relates to one claim.

    `probability`: the best unit that states the claim with the claim's polarity.
    `contradiction`: the best unit that addresses the claim with the opposite polarity.
    """

    claim_id: str
    probability: float
    contradiction: float
    evidence: tuple[str, ...]
    contradiction_evidence: tuple[str, ...]
    best_unit: int | None
    contradicting_unit: int | None
    unit_scores: tuple[UnitScore, ...] = field(repr=False, default=())


def _unit_rank(answer: AnswerView, probability: float, unit: int) -> tuple[float, int, int]:
    """Which unit best states a claim: the most probable, then the one of fewer clauses, then the earlier."""
    return probability, -len(answer.units[unit].clauses), -unit


def _segments(unit_tokens: Sequence[np.ndarray], n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut the tokens at every unit's first and one-past-last token; say which segments each unit spans."""
    cuts = sorted({0, *(int(t[0]) for t in unit_tokens if len(t)), *(int(t[-1]) + 1 for t in unit_tokens if len(t))})
    starts = np.asarray([c for c in cuts if c < n_tokens] or [0], dtype=np.int64)
    spans = np.zeros((len(unit_tokens), len(starts)), dtype=bool)
    for index, tokens in enumerate(unit_tokens):
        if len(tokens) and n_tokens:
            spans[index] = (starts >= tokens[0]) & (starts <= tokens[-1])
    return starts, spans


def pack_chunks(text: str, sentences: Sequence[Span], max_chars: int = MAX_CHUNK_CHARS) -> list[Span]:
    """Consecutive sentences packed into spans of at most `max_chars` (a longer sentence stands alone).

    One sequence per chunk keeps padding low and gives tokens their neighbouring sentences as
    context; MAX_CHUNK_CHARS keeps a chunk under MiniLM's 256-token window.
    """
    chunks: list[Span] = []
    for sentence in sentences:
        if chunks and sentence.end - chunks[-1].start <= max_chars:
            start = chunks[-1].start
            chunks[-1] = Span(start, sentence.end, text[start : sentence.end])
        else:
            chunks.append(sentence)
    return chunks


def _word_spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().replace("’", "'")) for m in _WORD.finditer(text.lower())]


def _token_words(encoded: Encoded, text: str) -> list[str | None]:
    """The word each token belongs to (None for punctuation)."""
    spans = _word_spans(text)
    words: list[str | None] = []
    cursor = 0
    for start in encoded.starts:
        while cursor < len(spans) and spans[cursor][1] <= start:
            cursor += 1
        if cursor < len(spans) and spans[cursor][0] <= start < spans[cursor][1]:
            words.append(spans[cursor][2])
        else:
            words.append(None)
    return words


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------------------------- matcher


def single_threaded_blas() -> None:
    """Keep numpy's BLAS on one thread for the rest of the process.

    The matcher's matrices are tiny, and OpenBLAS's idle threads spin on the same two cores that
    torch's threads need for the next forward pass: with both pools at two threads a 250-word grade
    took twice as long.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class Matcher:
    """Aligns claims with answer units: one forward pass per answer; claims are encoded once per question."""

    def __init__(
        self, embedder: Embedder | None = None, lexicon: Lexicon | None = None, params: MatchParams | None = None
    ) -> None:
        single_threaded_blas()
        self.embedder = embedder or get_embedder()
        self.encoder = TokenEncoder(self.embedder)
        self.lexicon = lexicon or load_lexicon()
        self._params = params
        self._claim_cache: OrderedDict[tuple[str, ...], tuple[QuestionView, list[ClaimView]]] = OrderedDict()
        self._spellings: dict[str, str] = {}
        self._cache_lock = threading.Lock()
        self._roles: RoleReader | None = None

    @property
    def roles(self) -> RoleReader:
        if self._roles is None:
            self._roles = RoleReader(self.lexicon)
        return self._roles

    @property
    def params(self) -> MatchParams:
        if self._params is None:
            self._params = default_params()
        return self._params

    # -- views

    def view_answer(self, answer: str) -> AnswerView:
        """The answer's clauses and units, from one forward pass per chunk of packed sentences.

        Chunks go through the model one at a time: batched, the shorter one would be padded to the
        longer one's length, and on a CPU the padding costs as much as real tokens.
        """
        sentences = split_sentences(answer)
        chunks = pack_chunks(answer, sentences)
        return self._build_view(answer, sentences, chunks, [self._encode_in_place(c.text) for c in chunks])

    def _written_out(self, text: str) -> Expanded:
        """The text as the model reads it: abbreviations written out, British spellings American."""
        return expand_abbreviations(text, self.lexicon, self._model_spelling)

    def _model_spelling(self, word: str) -> str:
        """The spelling of a lower-case word the model should read: American where the model knows it.

        A listed British word is always respelled; a word changed only by a suffix rule is respelled
        when the tokenizer splits the result into no more pieces than the word ("analyse" -> "analyze",
        but "otherwise" stays, as "otherwize" would be noise to the model).
        """
        known = self._spellings.get(word)
        if known is not None:
            return known
        american = american_spelling(word, self.lexicon)
        suffix_only = american != word and word not in self.lexicon.spelling_words
        tokenize = self.encoder.tokenizer.tokenize
        if suffix_only and len(tokenize(american)) > len(tokenize(word)):
            american = word
        if len(self._spellings) < SPELLING_CACHE_SIZE:
            self._spellings[word] = american
        return american

    def _encode_in_place(self, text: str) -> tuple[Encoded, list[str | None]]:
        """Token vectors of the text with abbreviations written out, placed at offsets of the original text,
        and the (written-out) word of each token."""
        expanded = self._written_out(text)
        encoded = self.encoder.encode([expanded.text])[0]
        words = _token_words(encoded, expanded.text)
        if expanded.text == text:
            return encoded, words
        origin = np.asarray(expanded.origin, dtype=np.int64)
        placed = replace(encoded, starts=origin[encoded.starts], ends=origin[encoded.ends])
        return placed, words

    def view_answers(self, answers: Sequence[str]) -> list[AnswerView]:
        """Views of many answers, each built exactly as `view_answer` builds it (fitting sees what grading sees)."""
        return [self.view_answer(answer) for answer in answers]

    def _build_view(
        self,
        answer: str,
        sentences: Sequence[Span],
        chunks: Sequence[Span],
        encoded: Sequence[tuple[Encoded, list[str | None]]],
    ) -> AnswerView:
        clauses = split_clauses(answer)
        units = build_units(answer, clauses, sentences)
        hidden, tokens, starts, words = [], [], [], []
        for chunk, (enc, chunk_words) in zip(chunks, encoded, strict=True):
            hidden.append(enc.hidden)
            tokens.append(enc.tokens)
            starts.append(enc.starts + chunk.start)
            words.extend(chunk_words)
        dims = self.encoder.hidden_size
        all_hidden = np.concatenate(hidden) if hidden else np.zeros((0, dims), np.float32)
        all_tokens = np.concatenate(tokens) if tokens else np.zeros((0, dims), np.float32)
        all_starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        content = np.asarray([w is not None and self.lexicon.is_content(w) for w in words], dtype=bool)
        unit_tokens, unit_content, vectors = [], [], []
        masks = np.zeros((len(units), len(all_starts)), dtype=bool)
        for index, unit in enumerate(units):
            inside = np.flatnonzero((all_starts >= unit.span.start) & (all_starts < unit.span.end))
            unit_tokens.append(inside)
            masks[index, inside] = True
            unit_content.append(inside[content[inside]] if len(inside) else inside)
            mean = all_hidden[inside].mean(axis=0) if len(inside) else np.zeros(dims, np.float32)
            vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        segment_starts, unit_segments = _segments(unit_tokens, len(all_starts))
        return AnswerView(
            text=answer,
            sentences=tuple(sentences),
            clauses=tuple(clauses),
            clause_analyses=tuple(analyse(c.text, self.lexicon) for c in clauses),
            clause_sentence=tuple(_sentence_index(sentences, c) for c in clauses),
            hypothetical=tuple(
                self.lexicon.is_hypothetical(sentences[_sentence_index(sentences, c)].text) for c in clauses
            ),
            units=tuple(units),
            unit_stems=tuple(frozenset(analyse(u.span.text, self.lexicon).stems) for u in units),
            unit_tokens=tuple(unit_tokens),
            unit_content_tokens=tuple(unit_content),
            unit_masks=masks,
            segment_starts=segment_starts,
            unit_segments=unit_segments,
            tokens=all_tokens,
            vectors=np.asarray(vectors, dtype=np.float32).reshape(len(units), dims),
        )

    def view_claims(self, question: str, claims: Sequence[str]) -> tuple[QuestionView, list[ClaimView]]:
        """The question and claims, encoded in one batch and cached (the batch is the same every time)."""
        key = (question, *claims)
        with self._cache_lock:
            if key in self._claim_cache:
                self._claim_cache.move_to_end(key)
                return self._claim_cache[key]
        written_out = [self._written_out(text).text for text in (question, *claims)]
        encoded = self.encoder.encode(written_out)
        question_stems = frozenset(analyse(question, self.lexicon).stems)
        question_view = QuestionView(question, question_stems, encoded[0].pooled)
        views = []
        for text, written, enc in zip(claims, written_out[1:], encoded[1:], strict=True):
            stems = frozenset(analyse(text, self.lexicon).stems)
            parts = tuple(analyse(part.text, self.lexicon) for part in split_clauses(text)) or (
                analyse(text, self.lexicon),
            )
            words = _token_words(enc, written)
            content = np.asarray([w is not None and self.lexicon.is_content(w) for w in words], dtype=bool)
            novel = np.asarray(
                [c and self.lexicon.normalise(w) not in question_stems for c, w in zip(content, words, strict=True)],
                dtype=bool,
            )
            content_rows = enc.tokens[content] if content.any() else enc.tokens
            novel_rows = enc.tokens[novel] if novel.any() else content_rows
            echoes = (enc.tokens @ encoded[0].tokens.T).max(axis=1) if len(encoded[0].tokens) else np.zeros(len(words))
            distinct = novel & (echoes < QUESTION_ECHO_SIMILARITY)
            distinct_rows = enc.tokens[distinct] if distinct.any() else novel_rows
            views.append(
                ClaimView(
                    text,
                    stems,
                    stems - question_stems,
                    parts,
                    enc.pooled,
                    enc.tokens,
                    novel_rows,
                    content_rows,
                    distinct_rows,
                )
            )
        with self._cache_lock:
            self._claim_cache[key] = (question_view, views)
            while len(self._claim_cache) > CACHE_SIZE:
                self._claim_cache.popitem(last=False)
        return question_view, views

    # -- features

    def unit_features(
        self, question: QuestionView, claim: ClaimView, answer: AnswerView, needed: Sequence[str] = CANDIDATE_FEATURES
    ) -> np.ndarray:
        """One row of CANDIDATE_FEATURES per unit, rounded so that equal inputs give bit-identical rows.

        Only the `needed` columns are computed (the others stay 0): grading needs only the fitted model's.
        """
        n_units = len(answer.units)
        rows = np.zeros((n_units, len(CANDIDATE_FEATURES)), dtype=np.float64)
        if n_units == 0:
            return rows
        column = {name: CANDIDATE_FEATURES.index(name) for name in needed}

        has_tokens = answer.unit_masks.any(axis=1)
        best: dict[str, np.ndarray] = {}

        def best_matches(kind: str, claim_tokens: np.ndarray) -> np.ndarray:
            """Units x claim tokens: the best cosine of each claim token with a token of the unit (once per kind)."""
            if kind not in best:
                # A unit's best token is its best segment's best token: the max over segments first is
                # exact and shrinks the units x claim tokens x tokens array several times over.
                sims = claim_tokens @ answer.tokens.T
                if not sims.shape[1]:
                    best[kind] = np.full((n_units, len(claim_tokens)), -np.inf)
                    return best[kind]
                by_segment = np.maximum.reduceat(sims, answer.segment_starts, axis=1)
                masked = np.where(answer.unit_segments[:, None, :], by_segment[None, :, :], -np.inf)
                best[kind] = masked.max(axis=2).astype(np.float64)
            return best[kind]

        if "cos_claim_unit" in column:
            rows[:, column["cos_claim_unit"]] = answer.vectors @ claim.vector
        if "cos_question_unit" in column:
            rows[:, column["cos_question_unit"]] = answer.vectors @ question.vector
        if "cos_claim_question" in column:
            rows[:, column["cos_claim_question"]] = float(claim.vector @ question.vector)
        for name, kind, claim_tokens in (
            ("token_recall_novel", "novel", claim.novel_tokens),
            ("token_recall_content", "content", claim.content_tokens),
            ("token_recall_distinct", "distinct", claim.distinct_tokens),
        ):
            if name in column:
                rows[:, column[name]] = np.where(has_tokens, best_matches(kind, claim_tokens).mean(axis=1), 0.0)
        if "token_recall_distinct_sq" in column:
            # The squared form rewards tokens matched closely more than many loose matches.
            squared = (np.clip(best_matches("distinct", claim.distinct_tokens), 0.0, None) ** 2).mean(axis=1)
            rows[:, column["token_recall_distinct_sq"]] = np.where(has_tokens, squared, 0.0)
        if "token_precision" in column:
            sims = claim.tokens @ answer.tokens.T
            rows[:, column["token_precision"]] = [
                float(sims[:, content].max(axis=0).mean()) if len(content) else 0.0
                for content in answer.unit_content_tokens
            ]
        if "novel_share" in column:
            rows[:, column["novel_share"]] = len(claim.novel) / len(claim.stems) if claim.stems else 0.0
        topic = claim.stems | question.stems
        for i, stems in enumerate(answer.unit_stems):
            stem_recall_all = len(claim.stems & stems) / len(claim.stems) if claim.stems else 0.0
            if "stem_recall_all" in column:
                rows[i, column["stem_recall_all"]] = stem_recall_all
            if "stem_recall_novel" in column:
                novel = len(claim.novel & stems) / len(claim.novel) if claim.novel else stem_recall_all
                rows[i, column["stem_recall_novel"]] = novel
            if "focus" in column:
                rows[i, column["focus"]] = len(stems & topic) / len(stems) if stems else 0.0
        return _round(rows)

    def polarity(self, claim: ClaimView, answer: AnswerView, unit: Unit, *, heads_only: bool = True) -> Polarity:
        """Compare the polarity of the unit's clauses with the parts of the claim they address.

        Each clause is compared with the claim part it overlaps most, so a two-part claim ("A does X;
        B does not do Y") is compared part by part. The overlap is the share of the shorter side's
        words found in the other; an antonym counts as shared ("stateless" addresses "stateful").
        The result is the flipped clause that overlaps most if any clause addressing the claim is
        flipped, else the clause that overlaps most: one opposite statement spoils a window. Clauses
        of a sentence that opens with a condition ("If DNS resolution is disabled, ...") flip nothing.
        """
        best, best_flipped = Polarity(0, 0.0), Polarity(0, 0.0)
        for index in unit.clauses:
            found = self._clause_polarity(claim, answer, heads_only, index)
            if found.overlap > best.overlap:
                best = found
            if found.reversed and found.overlap > best_flipped.overlap:
                best_flipped = found
        return best_flipped if best_flipped.overlap > 0 else best

    def _clause_polarity(self, claim: ClaimView, answer: AnswerView, heads_only: bool, index: int) -> Polarity:
        """The polarity of one clause against the claim part it overlaps most, computed when first asked for."""
        key = ("polarity", claim.text, heads_only)
        known = answer.memo.get(key)
        if known is None:
            known = answer.memo[key] = [None] * len(answer.clauses)
        if known[index] is not None:
            return known[index]
        clause = answer.clause_analyses[index]
        clause_stems = clause.stem_set
        found = Polarity(0, 0.0)
        for part in claim.parts:
            if not part.stems:
                continue
            common = len(part.stem_set & clause_stems)
            shared = common + antonym_flips(clause.words, part.words, self.lexicon)
            overlap = round(shared / min(len(part.stem_set), max(1, len(clause_stems))), DECIMALS)
            if overlap > found.overlap:
                hypothetical = answer.hypothetical[index]
                flips = 0 if hypothetical else polarity_flips(clause, part, self.lexicon, heads_only=heads_only)
                found = Polarity(flips, overlap, common)
        checks_roles = self.params.role_swaps and found.overlap >= ROLE_CHECK_OVERLAP and not found.reversed
        if checks_roles and not answer.hypothetical[index] and self._swaps_roles(claim, answer, index):
            found = Polarity(found.flips + 1, found.overlap, found.shared)
        known[index] = found
        return found

    def _swaps_roles(self, claim: ClaimView, answer: AnswerView, index: int) -> bool:
        """True when the clause gives the claim's agent and patient each other's place (rag/grading/roles.py)."""
        clause = answer.clauses[index]
        sentence = answer.sentences[answer.clause_sentence[index]]
        start, end = clause.start - sentence.start, clause.end - sentence.start
        return self.roles.swapped(claim.text, sentence.text, start, end)

    def flipped(self, claim: ClaimView, answer: AnswerView, unit: Unit, *, heads_only: bool = True) -> bool:
        """True when the unit states the claim's opposite: an odd number of flips in a clause that addresses it.

        `heads_only=False` also counts negations that are not about the shared word ("a role, not IAM
        users" against "create an IAM user"): too eager for key points, right for misconceptions.
        """
        return self.polarity(claim, answer, unit, heads_only=heads_only).reversed

    def stating_mask(self, question: QuestionView, claim: ClaimView, answer: AnswerView) -> np.ndarray:
        """Which units may earn the claim: not flipped, and not following a plain reversal in their sentence.

        A clause reverses the claim plainly when it is flipped and shares at least STRONG_FLIP_SHARED
        words with it; the clauses after it in the sentence build on it, so "Security groups are
        stateless, so return traffic needs a rule" cannot earn "Security groups are stateful, so
        return traffic is allowed" through its second clause. Clauses before it keep their credit,
        and a clause that only names the opposite ("NACLs are stateless") spoils nothing.
        A unit that restates the question (all its content words are the question's, cosine at least
        QUESTION_ECHO_COSINE) earns nothing.
        """
        return np.asarray([self.states(question, claim, answer, u) for u in range(len(answer.units))], dtype=bool)

    def states(self, question: QuestionView, claim: ClaimView, answer: AnswerView, unit_index: int) -> bool:
        """One entry of `stating_mask`, reading only the clauses of the unit's sentences."""
        unit = answer.units[unit_index]
        if self.polarity(claim, answer, unit).reversed:
            return False
        if any(self._spoiled(claim, answer, clause) for clause in unit.clauses):
            return False
        echoes = answer.unit_stems[unit_index] <= question.stems
        return not (echoes and float(answer.vectors[unit_index] @ question.vector) >= QUESTION_ECHO_COSINE)

    def _spoiled(self, claim: ClaimView, answer: AnswerView, clause: int) -> bool:
        """True when this clause or an earlier one of its sentence reverses the claim plainly."""
        sentence = answer.clause_sentence[clause]
        earlier = clause
        while earlier >= 0 and answer.clause_sentence[earlier] == sentence:
            polarity = self._clause_polarity(claim, answer, True, earlier)
            if polarity.reversed and polarity.shared >= STRONG_FLIP_SHARED:
                return True
            earlier -= 1
        return False

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        params = self.params
        weights = np.asarray(params.weights, dtype=np.float64)
        return _round(_sigmoid(features[:, params.columns] @ weights + params.bias))

    def unit_probabilities(self, question: QuestionView, claim: ClaimView, answer: AnswerView) -> np.ndarray:
        """The probability that each unit states the claim, before any polarity rule (cached per answer)."""
        key = ("probabilities", question.text, claim.text)
        if key not in answer.memo:
            answer.memo[key] = self.probabilities(self.unit_features(question, claim, answer, self.params.features))
        return answer.memo[key]

    # -- matching

    def match_claims(
        self,
        question: QuestionView,
        claims: Sequence[tuple[str, ClaimView]],
        answer: AnswerView,
        excluded_units: frozenset[int] = frozenset(),
    ) -> list[ClaimMatch]:
        """Per claim: the best stating unit and the best contradicting unit, skipping `excluded_units` for stating."""
        results = []
        for claim_id, claim in claims:
            key = ("scores", question.text, claim.text)
            if key not in answer.memo:
                probabilities = self.unit_probabilities(question, claim, answer)
                cosines = _round(answer.vectors @ claim.vector) if answer.units else np.zeros(0)
                stating = self.stating_mask(question, claim, answer) if answer.units else np.zeros(0, dtype=bool)
                answer.memo[key] = tuple(
                    UnitScore(
                        i,
                        float(probabilities[i]),
                        self.flipped(claim, answer, unit),
                        float(cosines[i]),
                        bool(stating[i]),
                    )
                    for i, unit in enumerate(answer.units)
                )
            results.append(self._summarise(claim_id, claim, answer, answer.memo[key], excluded_units))
        return results

    def match_wording(
        self,
        question: QuestionView,
        wording: ClaimView,
        original: ClaimMatch,
        answer: AnswerView,
        excluded_units: frozenset[int] = frozenset(),
    ) -> ClaimMatch:
        """The best unit stating another wording of a claim, without looking for a contradiction.

        The unit must state both the wording (`states`) and the original (`original`'s stating units,
        from `match_claims`): a wording may reach words the original misses, but the original's
        negations, antonyms and numbers still decide polarity ("1 RCU = 1 read/s up to 4 KB" has a 1
        that would hide a swapped "1 KB read"). Units are checked from the most probable down, so the
        wording's polarity is read only for those that could win: a claim's wordings are many, and
        the polarity of every clause against each of them would be most of the grading time.
        """
        probabilities = self.unit_probabilities(question, wording, answer)
        order = sorted(
            range(len(answer.units)), key=lambda u: _unit_rank(answer, float(probabilities[u]), u), reverse=True
        )
        for unit in order:
            if unit in excluded_units or not original.unit_scores[unit].stating:
                continue
            if self.states(question, wording, answer, unit):
                return ClaimMatch(
                    claim_id=original.claim_id,
                    probability=float(probabilities[unit]),
                    contradiction=0.0,
                    evidence=self.evidence(wording, answer, unit),
                    contradiction_evidence=(),
                    best_unit=unit,
                    contradicting_unit=None,
                )
        return ClaimMatch(original.claim_id, 0.0, 0.0, (), (), None, None)

    def _summarise(
        self,
        claim_id: str,
        claim: ClaimView,
        answer: AnswerView,
        scores: Sequence[UnitScore],
        excluded_units: frozenset[int],
    ) -> ClaimMatch:
        def rank(score: UnitScore) -> tuple[float, int, int]:
            return _unit_rank(answer, score.probability, score.unit)

        stating = [s for s in scores if s.stating and s.unit not in excluded_units]
        opposing = [s for s in scores if s.flipped]
        best = max(stating, key=rank, default=None)
        worst = max(opposing, key=rank, default=None)
        return ClaimMatch(
            claim_id=claim_id,
            probability=best.probability if best else 0.0,
            contradiction=worst.probability if worst else 0.0,
            evidence=self.evidence(claim, answer, best.unit) if best else (),
            contradiction_evidence=self.evidence(claim, answer, worst.unit) if worst else (),
            best_unit=best.unit if best else None,
            contradicting_unit=worst.unit if worst else None,
            unit_scores=tuple(scores),
        )

    def evidence(self, claim: ClaimView, answer: AnswerView, unit_index: int) -> tuple[str, ...]:
        """The clauses of the unit that share a word with the claim (all of them if none does)."""
        unit = answer.units[unit_index]
        sharing = [i for i in unit.clauses if answer.clause_analyses[i].stem_set & claim.stems]
        return tuple(answer.clauses[i].text for i in (sharing or unit.clauses))
