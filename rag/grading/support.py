"""Soft credit for key points derived from a reference answer (questions built by rag/grading/derive.py).

A derived key point is a whole sentence of someone's reference answer, not a claim written for the
bank with its paraphrases. Students who know the answer restate such sentences in their own words,
and the matcher, which leans on shared tokens, gives them little: correct long answers averaged 3.7
of 10 on selection data. So for derived questions a key point can also earn credit from the sentence
of the answer (or the whole answer) whose MiniLM embedding is closest to it, on two conditions:

- the similarity maps linearly onto the match-probability scale, `low` to the partly threshold and
  `high` to the covered threshold, and the credit comes from that probability as for any match;
- the judge must read one of the nearest sentences, or the whole answer, as entailing the point with
  at least `entails`: an answer on the right topic that says something else earns nothing from it.

A point gains credit this way only where it is more than the matcher's (the support never lowers
credit) and never when the point is contradicted; it moves the share `weight` of the way from the
matcher's credit to the support's (1: all the way). Only a question derived into at least `min_points`
key points gets it: a one-sentence reference is one claim, which the matcher reads as it reads any.
With `entails` 0 the judge is not asked.

The same reading also compares the whole answer with the whole reference: with `whole_answer` set, that
similarity, mapped linearly from `low` (no credit) to `high` (full credit), makes up the share `share`
of the coverage criterion (`compute_score`). A reference read as a list of sentences misses what an
answer says across them; the whole-answer similarity sees it, but it is no evidence of any one claim,
so its share is capped at MAX_WHOLE_ANSWER_SHARE: similarity alone can never lift an answer out of the
lowest band. The thresholds live in offline_params.json
(`reference_support`), chosen by `python -m evals.select_support` on selection data only; without that
entry the support is off. What was chosen, and what it cannot tell apart, is in docs/decisions.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.embeddings import Embedder
from rag.grading.clauses import Span
from rag.grading.judge import ENTAILS
from rag.grading.result import KeyPointVerdict, ReferenceSimilarity, Verdict
from rag.grading.review import MAX_SENTENCE_CHARS, candidate_sentences
from rag.grading.views import AnswerView, ClaimView
from rag.questions import Question

DERIVED_TOPIC = "derived"
"""The topic of questions built from a reference answer (rag/grading/derive.py)."""
SIMILARITY_DECIMALS = 4
"""Embeddings of one text differ in the last float bits with their batch; rounding keeps grades identical."""
MAX_WHOLE_ANSWER_SHARE = 0.3
"""At most this share of the coverage may come from whole-answer similarity: 3 points of 10, below the
rubric's 'Partial' band (3.5). A product bound, not a fitted value: similarity is not correctness."""


class WholeAnswerParams(BaseModel):
    """How the whole answer's similarity to the reference counts toward coverage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(gt=0, le=MAX_WHOLE_ANSWER_SHARE, description="Share of coverage from the similarity.")
    low: float = Field(ge=-1, le=1, description="Similarity that earns no credit.")
    high: float = Field(ge=-1, le=1, description="Similarity that earns full credit.")
    selected_on: str = ""
    selection: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> WholeAnswerParams:
        if self.high <= self.low:
            raise ValueError("reference_support.whole_answer: high must be above low")
        return self


class SupportParams(BaseModel):
    """Where reference support starts and reaches the covered threshold, and the judge's gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float = Field(ge=-1, le=1, description="Similarity that maps to the partly threshold.")
    high: float = Field(ge=-1, le=1, description="Similarity that maps to the covered threshold.")
    entails: float = Field(ge=0, le=1.01, description="Judge's entails probability needed; above 1 turns support off.")
    nearest: int = Field(
        ge=1, le=5, description="Answer sentences per key point the judge reads (plus the whole answer)."
    )
    weight: float = Field(
        default=1.0, gt=0, le=1, description="Share of the way from the matcher's credit to the support's."
    )
    min_points: int = Field(
        default=1, ge=1, le=20, description="Only questions derived into at least this many key points get support."
    )
    whole_answer: WholeAnswerParams | None = None
    selected_on: str = ""
    selection: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> SupportParams:
        if self.high <= self.low:
            raise ValueError("reference_support: high must be above low")
        return self


def whole_answer_credit(similarity: float | None, params: SupportParams | None) -> ReferenceSimilarity | None:
    """The whole-answer similarity as coverage credit, or None when there is none or it is off."""
    if similarity is None or params is None or params.whole_answer is None:
        return None
    whole = params.whole_answer
    credit = min(1.0, max(0.0, (similarity - whole.low) / (whole.high - whole.low)))
    return ReferenceSimilarity(similarity=similarity, credit=round(credit, 4), share=whole.share)


@dataclass(frozen=True)
class Support:
    """How well the answer supports one derived key point: its nearest span, similarity and the judge's entails."""

    similarity: float
    span: Span
    entails: float | None = None
    """None when the judge was not asked (the support could not have raised the credit)."""


def support_params_of(match_params: object) -> SupportParams | None:
    """The support thresholds stored beside the matcher's parameters; None when none were selected."""
    raw = getattr(match_params, "reference_support", None)
    return SupportParams.model_validate(raw) if raw else None


def is_derived(question: Question) -> bool:
    return question.topic == DERIVED_TOPIC


def supported(question: Question, params: SupportParams | None) -> bool:
    """Support applies: a derived question with at least `min_points` key points (reference sentences)."""
    return params is not None and is_derived(question) and len(question.key_points) >= params.min_points


def own_credit(verdict: KeyPointVerdict) -> float:
    return (verdict.credit or 0.0) if verdict.credited else 0.0


def could_raise(verdict: KeyPointVerdict, credit: float) -> bool:
    """Support giving `credit` would raise this verdict's credit: it is not contradicted and earns less."""
    return verdict.verdict is not Verdict.contradicted and credit > own_credit(verdict)


def passes_gate(support: Support, params: SupportParams) -> bool:
    """The judge read a span as entailing the point (always, when the gate is off)."""
    if params.entails <= 0:
        return True
    return support.entails is not None and support.entails >= params.entails


def supported_probability(similarity: float, params: SupportParams, covered: float, partly: float) -> float:
    """The similarity on the match-probability scale: `low` at the partly threshold, `high` at covered."""
    return partly + (similarity - params.low) * (covered - partly) / (params.high - params.low)


def reference_supports(
    question: Question,
    view: AnswerView,
    point_claims: Sequence[tuple[str, ClaimView]],
    verdicts: Sequence[KeyPointVerdict],
    params: SupportParams,
    *,
    embedder: Embedder,
    judge_probabilities: Callable[[list[tuple[str, str, str]]], np.ndarray],
    credit: Callable[[Support], float],
    judge_all: bool = False,
) -> tuple[list[Support | None], float | None]:
    """Each derived key point's nearest span by sentence embedding, and the judge's entails where it matters;
    and the similarity of the whole answer to the whole reference (the question's model answer), when
    `params.whole_answer` is set (else None).

    Candidates per point: the `params.nearest` sentences holding its nearest units (by the matcher's
    unit vectors, so a long answer costs a bounded number of embeddings) and the whole answer (cut at
    MAX_SENTENCE_CHARS for the judge). The judge reads them only when the support would give the
    point more credit than the matcher did.

    `judge_probabilities`: the judge's (entails, contradicts, neither) rows for (question, claim, text)
    triples, called only when there is something to read; `credit`: the credit a support alone would give
    its point; `judge_all`: the judge reads every point's candidates (the selection tool's replay).
    """
    if not view.text.strip():
        return [None] * len(point_claims), None
    unit_spans = [unit.span for unit in view.units]
    nearest = [
        [
            s
            for s in candidate_sentences(
                view.text, view.sentences, unit_spans, view.vectors @ claim.vector, params.nearest
            )
            if s.text.strip()
        ]
        for _, claim in point_claims
    ]
    whole_span = Span(0, len(view.text), view.text)
    texts = [claim.text for _, claim in point_claims]
    spans = list(dict.fromkeys([*(s for found in nearest for s in found), whole_span]))
    vectors = embedder.embed([*texts, *(" ".join(s.text.split()) for s in spans)])
    claim_vectors, span_vectors = vectors[: len(texts)], vectors[len(texts) :]
    index = {span: i for i, span in enumerate(spans)}
    # only when it counts; the reference in a batch of its own (cached per question), so the batch above
    # embeds as it does without it
    reference = " ".join(question.model_answer.split())
    whole_similarity = (
        round(float(embedder.embed([reference])[0] @ span_vectors[index[whole_span]]), SIMILARITY_DECIMALS)
        if reference and params.whole_answer is not None
        else None
    )
    supports: list[Support | None] = []
    requests: list[tuple[int, list[str]]] = []
    for k, (found, verdict) in enumerate(zip(nearest, verdicts, strict=True)):
        options = [*found, whole_span]
        similarities = [round(float(claim_vectors[k] @ span_vectors[index[s]]), SIMILARITY_DECIMALS) for s in options]
        best = max(range(len(options)), key=lambda i: (similarities[i], -i))
        support = Support(similarity=similarities[best], span=options[best])
        if judge_all or (params.entails > 0 and could_raise(verdict, credit(support))):
            requests.append((k, [s.text[:MAX_SENTENCE_CHARS] for s in options]))
        supports.append(support)
    pairs = [(question.question, texts[k], text) for k, read in requests for text in read]
    rows = judge_probabilities(pairs) if pairs else np.zeros((0, 3))
    at = 0
    for k, read in requests:
        entails = float(rows[at : at + len(read), ENTAILS].max())
        at += len(read)
        supports[k] = replace(supports[k], entails=entails)
    return supports, whole_similarity


def apply_support(
    verdicts: Sequence[KeyPointVerdict],
    supports: Sequence[Support | None],
    credits: Sequence[float],
    params: SupportParams,
    covered: float,
    partly: float,
    covered_credit: float,
) -> list[KeyPointVerdict]:
    """The verdicts with reference support applied; `credits[i]` is the credit support would give point i.

    `covered_credit` is the least credit of a covered point (the rubric's): a point pulled past it by the
    support is covered, below it partly covered."""
    applied = []
    for verdict, support, credit in zip(verdicts, supports, credits, strict=True):
        if support is not None and passes_gate(support, params) and could_raise(verdict, credit):
            probability = supported_probability(support.similarity, params, covered, partly)
            own = own_credit(verdict)
            pulled = round(own + params.weight * (credit - own), 4)
            judged = f", judge entails {support.entails:.2f}" if support.entails is not None else ""
            verdict = verdict.model_copy(
                update={
                    "verdict": Verdict.covered if pulled >= covered_credit else Verdict.partly,
                    "evidence": [support.span.text.strip()],
                    "credit": pulled,
                    "confidence": round(min(1.0, probability), 2),
                    "note": f"{verdict.note}; in other words: similarity {support.similarity:.2f}{judged}",
                }
            )
        applied.append(verdict)
    return applied
