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

The fitted model's parameters live in match_params.py, the token vectors come from token_encoder.py,
and the views the matcher builds and the results it returns are defined in views.py.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rag.embeddings import Embedder, get_embedder
from rag.grading.clauses import Span, split_clauses, split_sentences
from rag.grading.hedges import hedged_clauses
from rag.grading.lexicon import Lexicon, american_spelling, load_lexicon
from rag.grading.match_params import CANDIDATE_FEATURES, MatchParams, default_params
from rag.grading.roles import RoleReader
from rag.grading.text import Expanded, analyse, antonym_flips, expand_abbreviations, polarity_flips
from rag.grading.token_encoder import Encoded, TokenEncoder
from rag.grading.views import (
    AnswerView,
    ClaimMatch,
    ClaimView,
    Polarity,
    QuestionView,
    Unit,
    UnitScore,
    build_units,
    pack_chunks,
    sentence_index,
)

DECIMALS = 4
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
        clause_sentence = tuple(sentence_index(sentences, c) for c in clauses)
        return AnswerView(
            text=answer,
            sentences=tuple(sentences),
            clauses=tuple(clauses),
            clause_analyses=tuple(analyse(c.text, self.lexicon) for c in clauses),
            clause_sentence=clause_sentence,
            hypothetical=tuple(
                self.lexicon.is_hypothetical(sentences[sentence_index(sentences, c)].text) for c in clauses
            ),
            hedged=hedged_clauses([c.text for c in clauses], clause_sentence, self.lexicon)
            if self.params.hedged_clauses
            else (),
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
                asserted = self._asserted(answer, index)
                flips = polarity_flips(clause, part, self.lexicon, heads_only=heads_only) if asserted else 0
                found = Polarity(flips, overlap, common)
        checks_roles = self.params.role_swaps and found.overlap >= ROLE_CHECK_OVERLAP and not found.reversed
        if checks_roles and self._asserted(answer, index) and self._swaps_roles(claim, answer, index):
            found = Polarity(found.flips + 1, found.overlap, found.shared)
        known[index] = found
        return found

    @staticmethod
    def _asserted(answer: AnswerView, index: int) -> bool:
        """The clause states something that can be reversed: it is neither hypothetical nor hedged."""
        return not answer.hypothetical[index] and not (answer.hedged and answer.hedged[index])

    def _swaps_roles(self, claim: ClaimView, answer: AnswerView, index: int) -> bool:
        """True when the clause gives the claim's agent and patient each other's place (rag/grading/roles.py)."""
        clause = answer.clauses[index]
        sentence = answer.sentences[answer.clause_sentence[index]]
        start, end = clause.start - sentence.start, clause.end - sentence.start
        return self.roles.swapped(
            claim.text, sentence.text, start, end, by_clause_place=self.params.role_swaps_by_clause_place
        )

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
        QUESTION_ECHO_COSINE) earns nothing, and so does a unit whose clause nearest the claim is hedged
        (rag/grading/hedges.py, with `hedged_clauses`).
        """
        return np.asarray([self.states(question, claim, answer, u) for u in range(len(answer.units))], dtype=bool)

    def states(self, question: QuestionView, claim: ClaimView, answer: AnswerView, unit_index: int) -> bool:
        """One entry of `stating_mask`, reading only the clauses of the unit's sentences."""
        unit = answer.units[unit_index]
        if self.polarity(claim, answer, unit).reversed:
            return False
        if any(self._spoiled(claim, answer, clause) for clause in unit.clauses):
            return False
        if answer.hedged and answer.hedged[self._nearest_clause(claim, answer, unit)]:
            return False
        echoes = answer.unit_stems[unit_index] <= question.stems
        return not (echoes and float(answer.vectors[unit_index] @ question.vector) >= QUESTION_ECHO_COSINE)

    def _nearest_clause(self, claim: ClaimView, answer: AnswerView, unit: Unit) -> int:
        """The unit's clause that overlaps the claim most (the first of equals), as `polarity` reads it."""
        return max(unit.clauses, key=lambda c: (self._clause_polarity(claim, answer, True, c).overlap, -c))

    def _opposes_plainly(self, claim: ClaimView, answer: AnswerView, unit: Unit) -> bool:
        """Every clause of the unit that overlaps the claim most is flipped: the unit is about the opposite,
        not a statement of the claim with a contrast beside it."""
        polarities = [self._clause_polarity(claim, answer, True, c) for c in unit.clauses]
        top = max(p.overlap for p in polarities)
        return top > 0 and all(p.reversed for p in polarities if p.overlap == top)

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
        plain = None
        if self.params.clearer_opposite_wins:
            plainly = [s for s in opposing if self._opposes_plainly(claim, answer, answer.units[s.unit])]
            plain = max(plainly, key=rank, default=None)
        return ClaimMatch(
            claim_id=claim_id,
            probability=best.probability if best else 0.0,
            contradiction=worst.probability if worst else 0.0,
            evidence=self.evidence(claim, answer, best.unit) if best else (),
            contradiction_evidence=self.evidence(claim, answer, worst.unit) if worst else (),
            best_unit=best.unit if best else None,
            contradicting_unit=worst.unit if worst else None,
            unit_scores=tuple(scores),
            plain_contradiction=plain.probability if plain else 0.0,
            plain_contradiction_evidence=self.evidence(claim, answer, plain.unit) if plain else (),
        )

    def evidence(self, claim: ClaimView, answer: AnswerView, unit_index: int) -> tuple[str, ...]:
        """The clauses of the unit that share a word with the claim (all of them if none does)."""
        unit = answer.units[unit_index]
        sharing = [i for i in unit.clauses if answer.clause_analyses[i].stem_set & claim.stems]
        return tuple(answer.clauses[i].text for i in (sharing or unit.clauses))
