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

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rag.embeddings import Embedder, get_embedder
from rag.errors import ConfigError
from rag.grading.text import (
    Analysis,
    Lexicon,
    Span,
    analyse,
    antonym_flips,
    load_lexicon,
    polarity_flips,
    split_clauses,
    split_sentences,
)

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
)
"""Every feature the matcher can compute; the params file names the ones the fitted model uses."""

DECIMALS = 4
WHOLE_ANSWER_MAX_CLAUSES = 4
MAX_TOKENS = 256
FLIP_MIN_OVERLAP = 0.5
CACHE_SIZE = 4096
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
    try:
        return MatchParams.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from exc


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


class TokenEncoder:
    """One MiniLM forward pass per batch of texts, keeping the token vectors that `Embedder.embed` pools away.

    Uses the embedder's checksum-verified model. The pooled vector equals `Embedder.embed` (mean over
    all tokens including [CLS]/[SEP], then L2 normalisation).
    """

    def __init__(self, embedder: Embedder) -> None:
        self.model = embedder.model
        self.tokenizer = self.model.tokenizer
        self.transformer = self.model[0].auto_model
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

    `sentences` tells which windows cross a sentence boundary (misconceptions are not read across one).
    """

    def sentence_of(span: Span) -> int:
        return _sentence_index(sentences, span)

    units = [Unit(span, (i,)) for i, span in enumerate(clauses)]
    for i in range(len(clauses) - 1):
        start, end = clauses[i].start, clauses[i + 1].end
        same = sentence_of(clauses[i]) == sentence_of(clauses[i + 1])
        units.append(Unit(Span(start, end, text[start:end]), (i, i + 1), same))
    if 2 < len(clauses) <= WHOLE_ANSWER_MAX_CLAUSES:
        start, end = clauses[0].start, clauses[-1].end
        same = len({sentence_of(c) for c in clauses}) == 1
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
    tokens: np.ndarray
    vectors: np.ndarray
    """One L2-normalised vector per unit."""


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


@dataclass(frozen=True)
class UnitScore:
    unit: int
    probability: float
    flipped: bool
    cosine: float


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


class Matcher:
    """Aligns claims with answer units: one forward pass per answer; claims are encoded once per question."""

    def __init__(
        self, embedder: Embedder | None = None, lexicon: Lexicon | None = None, params: MatchParams | None = None
    ) -> None:
        self.encoder = TokenEncoder(embedder or get_embedder())
        self.lexicon = lexicon or load_lexicon()
        self._params = params
        self._claim_cache: OrderedDict[tuple[str, ...], tuple[QuestionView, list[ClaimView]]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def params(self) -> MatchParams:
        if self._params is None:
            self._params = default_params()
        return self._params

    # -- views

    def view_answer(self, answer: str) -> AnswerView:
        """The answer's clauses and units, from one forward pass over its sentences."""
        sentences = split_sentences(answer)
        return self._build_view(answer, sentences, self.encoder.encode([s.text for s in sentences]))

    def view_answers(self, answers: Sequence[str], batch_size: int = 64) -> list[AnswerView]:
        """Views of many answers with their sentences encoded in shared batches: faster for bulk fitting.

        Batching changes the padding, hence the last bits of the vectors, so grades of single
        answers use `view_answer`.
        """
        sentences = [split_sentences(answer) for answer in answers]
        texts = list(dict.fromkeys(s.text for answer_sentences in sentences for s in answer_sentences))
        ordered = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        encoded: dict[str, Encoded] = {}
        for start in range(0, len(ordered), batch_size):
            chunk = [texts[i] for i in ordered[start : start + batch_size]]
            encoded.update(zip(chunk, self.encoder.encode(chunk), strict=True))
        return [
            self._build_view(answer, answer_sentences, [encoded[s.text] for s in answer_sentences])
            for answer, answer_sentences in zip(answers, sentences, strict=True)
        ]

    def _build_view(self, answer: str, sentences: Sequence[Span], encoded: Sequence[Encoded]) -> AnswerView:
        clauses = split_clauses(answer)
        units = build_units(answer, clauses, sentences)
        hidden, tokens, starts, words = [], [], [], []
        for sentence, enc in zip(sentences, encoded, strict=True):
            hidden.append(enc.hidden)
            tokens.append(enc.tokens)
            starts.append(enc.starts + sentence.start)
            words.extend(_token_words(enc, sentence.text))
        dims = self.encoder.transformer.config.hidden_size
        all_hidden = np.concatenate(hidden) if hidden else np.zeros((0, dims), np.float32)
        all_tokens = np.concatenate(tokens) if tokens else np.zeros((0, dims), np.float32)
        all_starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        content = np.asarray([w is not None and self.lexicon.is_content(w) for w in words], dtype=bool)
        unit_tokens, unit_content, vectors = [], [], []
        for unit in units:
            inside = np.flatnonzero((all_starts >= unit.span.start) & (all_starts < unit.span.end))
            unit_tokens.append(inside)
            unit_content.append(inside[content[inside]] if len(inside) else inside)
            mean = all_hidden[inside].mean(axis=0) if len(inside) else np.zeros(dims, np.float32)
            vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        return AnswerView(
            text=answer,
            sentences=tuple(sentences),
            clauses=tuple(clauses),
            clause_analyses=tuple(analyse(c.text, self.lexicon) for c in clauses),
            clause_sentence=tuple(_sentence_index(sentences, c) for c in clauses),
            units=tuple(units),
            unit_stems=tuple(frozenset(analyse(u.span.text, self.lexicon).stems) for u in units),
            unit_tokens=tuple(unit_tokens),
            unit_content_tokens=tuple(unit_content),
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
        encoded = self.encoder.encode([question, *claims])
        question_stems = frozenset(analyse(question, self.lexicon).stems)
        question_view = QuestionView(question, question_stems, encoded[0].pooled)
        views = []
        for text, enc in zip(claims, encoded[1:], strict=True):
            stems = frozenset(analyse(text, self.lexicon).stems)
            parts = tuple(analyse(part.text, self.lexicon) for part in split_clauses(text)) or (
                analyse(text, self.lexicon),
            )
            words = _token_words(enc, text)
            content = np.asarray([w is not None and self.lexicon.is_content(w) for w in words], dtype=bool)
            novel = np.asarray(
                [c and self.lexicon.normalise(w) not in question_stems for c, w in zip(content, words, strict=True)],
                dtype=bool,
            )
            content_rows = enc.tokens[content] if content.any() else enc.tokens
            novel_rows = enc.tokens[novel] if novel.any() else content_rows
            views.append(
                ClaimView(text, stems, stems - question_stems, parts, enc.pooled, enc.tokens, novel_rows, content_rows)
            )
        with self._cache_lock:
            self._claim_cache[key] = (question_view, views)
            while len(self._claim_cache) > CACHE_SIZE:
                self._claim_cache.popitem(last=False)
        return question_view, views

    # -- features

    def unit_features(self, question: QuestionView, claim: ClaimView, answer: AnswerView) -> np.ndarray:
        """One row of CANDIDATE_FEATURES per unit, rounded so that equal inputs give bit-identical rows."""
        n_units = len(answer.units)
        rows = np.zeros((n_units, len(CANDIDATE_FEATURES)), dtype=np.float64)
        if n_units == 0:
            return rows
        cos_claim = answer.vectors @ claim.vector
        cos_question = answer.vectors @ question.vector
        cos_claim_question = float(claim.vector @ question.vector)
        novel_sims = claim.novel_tokens @ answer.tokens.T
        content_sims = claim.content_tokens @ answer.tokens.T
        claim_sims = claim.tokens @ answer.tokens.T
        topic = claim.stems | question.stems
        novel_share = len(claim.novel) / len(claim.stems) if claim.stems else 0.0
        for i, stems in enumerate(answer.unit_stems):
            inside, content = answer.unit_tokens[i], answer.unit_content_tokens[i]
            if len(inside):
                token_recall_novel = float(novel_sims[:, inside].max(axis=1).mean())
                token_recall_content = float(content_sims[:, inside].max(axis=1).mean())
            else:
                token_recall_novel = token_recall_content = 0.0
            token_precision = float(claim_sims[:, content].max(axis=0).mean()) if len(content) else 0.0
            stem_recall_all = len(claim.stems & stems) / len(claim.stems) if claim.stems else 0.0
            stem_recall_novel = len(claim.novel & stems) / len(claim.novel) if claim.novel else stem_recall_all
            focus = len(stems & topic) / len(stems) if stems else 0.0
            rows[i] = (
                cos_claim[i],
                cos_question[i],
                cos_claim_question,
                token_recall_novel,
                token_recall_content,
                stem_recall_novel,
                stem_recall_all,
                focus,
                token_precision,
                novel_share,
            )
        return _round(rows)

    def polarity(self, claim: ClaimView, answer: AnswerView, unit: Unit) -> Polarity:
        """Compare the polarity of the unit's clauses with the parts of the claim they address.

        Each clause is compared with the claim part it overlaps most, so a two-part claim ("A does X;
        B does not do Y") is compared part by part. The overlap is the share of the shorter side's
        words found in the other; an antonym counts as shared ("stateless" addresses "stateful").
        The result is the flipped clause that overlaps most if any clause addressing the claim is
        flipped, else the clause that overlaps most: one opposite statement spoils a window.
        """
        best, best_flipped = Polarity(0, 0.0), Polarity(0, 0.0)
        for index in unit.clauses:
            clause = answer.clause_analyses[index]
            clause_stems = clause.stem_set
            found = Polarity(0, 0.0)
            for part in claim.parts:
                if not part.stems:
                    continue
                shared = len(part.stem_set & clause_stems) + antonym_flips(clause.words, part.words, self.lexicon)
                overlap = round(shared / min(len(part.stem_set), max(1, len(clause_stems))), DECIMALS)
                if overlap > found.overlap:
                    found = Polarity(polarity_flips(clause, part, self.lexicon), overlap)
            if found.overlap > best.overlap:
                best = found
            if found.flips % 2 == 1 and found.overlap >= FLIP_MIN_OVERLAP and found.overlap > best_flipped.overlap:
                best_flipped = found
        return best_flipped if best_flipped.overlap > 0 else best

    def flipped(self, claim: ClaimView, answer: AnswerView, unit: Unit) -> bool:
        """True when the unit states the claim's opposite: an odd number of flips in a clause that addresses it."""
        polarity = self.polarity(claim, answer, unit)
        return polarity.flips % 2 == 1 and polarity.overlap >= FLIP_MIN_OVERLAP

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        params = self.params
        weights = np.asarray(params.weights, dtype=np.float64)
        return _round(_sigmoid(features[:, params.columns] @ weights + params.bias))

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
            probabilities = self.probabilities(self.unit_features(question, claim, answer))
            cosines = _round(answer.vectors @ claim.vector) if answer.units else np.zeros(0)
            scores = tuple(
                UnitScore(i, float(probabilities[i]), self.flipped(claim, answer, unit), float(cosines[i]))
                for i, unit in enumerate(answer.units)
            )
            results.append(self._summarise(claim_id, claim, answer, scores, excluded_units))
        return results

    def _summarise(
        self,
        claim_id: str,
        claim: ClaimView,
        answer: AnswerView,
        scores: Sequence[UnitScore],
        excluded_units: frozenset[int],
    ) -> ClaimMatch:
        def rank(score: UnitScore) -> tuple[float, int, int]:
            return score.probability, -len(answer.units[score.unit].clauses), -score.unit

        stating = [s for s in scores if not s.flipped and s.unit not in excluded_units]
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
