"""The judge: a small cross-encoder that reads (question, claim, answer span) and says entails / contradicts / neither.

The base is all-MiniLM-L6-v2 from the checksum-verified PyPI package (`rag.embeddings`). Fine-tuning
(`make train-judge`, evals/train_judge.py) changes the transformer layers and adds a 3-way head; the
word embeddings stay the base's and are not stored again. The trained tensors live in
`rag/grading/judge/judge.safetensors` (fp16) and are refused unless their sha256 equals the one in
`rag/grading/judge/card.json`. At run time the linear layers run as int8 (dynamic quantization).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from rag.embeddings import model_dir, verify_model, verify_sha256
from rag.errors import ModelIntegrityError
from rag.grading.stemming import porter_stem, tokenize

JUDGE_DIR = Path(__file__).with_name("judge")
WEIGHTS_FILE = "judge.safetensors"
CARD_FILE = "card.json"
LABELS: tuple[str, ...] = ("entails", "contradicts", "neither")
ENTAILS, CONTRADICTS, NEITHER = range(3)
MAX_LENGTH = 128
"""Tokens per (question + claim, span) pair; longer spans are cut by the caller, not here."""
MAX_QUESTION_CHARS = 160
"""The question gives context ("it" in an answer); its first sentence or so is enough."""
CACHE_SIZE = 20_000
STORED_PREFIXES = ("encoder.", "head.", "embeddings.position", "embeddings.token_type", "embeddings.LayerNorm")
"""The tensors the fine-tune changes; the word embeddings are the frozen base's."""


def first_part(question: str) -> str:
    """The start of the question, cut at a word boundary (the judge needs its subject, not all of it)."""
    question = " ".join(question.split())
    if len(question) <= MAX_QUESTION_CHARS:
        return question
    return question[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]


class ContrastWords(BaseModel):
    """The word lists the judge's contrast line is built with, frozen in the card at training time.

    They are stored with the weights (not read from the editable lexicon) because the judge learned to
    read the line as it was built when it was trained; a lexicon edit must not change what it sees.
    """

    stopwords: frozenset[str] = Field(min_length=1)
    negations: frozenset[str] = Field(min_length=1)


CONTRAST_LIMIT = 6
"""Words listed per side of the contrast line; a long answer sentence lists its first few."""


def _content(text: str, words: ContrastWords) -> list[tuple[str, str]]:
    """(stem, word) for the text's content words and negations, in order; negations all read "not"."""
    found = []
    for token in tokenize(text):
        bare = token.replace("'", "")  # tokenize() already wrote ’ as '
        if bare in words.negations:
            found.append(("not", "not"))
        elif bare not in words.stopwords and any(ch.isalnum() for ch in bare):
            found.append((porter_stem(bare), bare))
    return found


def contrast_line(claim: str, span: str, words: ContrastWords) -> str:
    """What differs between claim and span, spelled out for the judge.

    "missing:" lists claim words the span lacks, "added:" span words the claim lacks (a negation reads
    "not"), "order:" the first two shared words that come in the other order. A one-word edit is one token
    among sixty in a pair, and a small cross-encoder trained on a few thousand edits does not learn to
    find it; named here, the edit is in plain sight and the judge only has to learn what it means.
    """
    claimed, said = _content(claim, words), _content(span, words)
    claim_stems, span_stems = {s for s, _ in claimed}, {s for s, _ in said}
    missing = list(dict.fromkeys(w for s, w in claimed if s not in span_stems))[:CONTRAST_LIMIT]
    added = list(dict.fromkeys(w for s, w in said if s not in claim_stems))[:CONTRAST_LIMIT]
    parts = [f"missing: {' '.join(missing) or '-'}", f"added: {' '.join(added) or '-'}"]
    first_in_span: dict[str, int] = {}
    for index, (stem, _) in enumerate(said):
        first_in_span.setdefault(stem, index)
    shared = [(s, w) for s, w in dict(claimed).items() if s in first_in_span]
    for (a, word_a), (b, word_b) in itertools.pairwise(shared):
        if first_in_span[a] > first_in_span[b]:
            parts.append(f"order: {word_b} before {word_a}")
            break
    return ". ".join(parts)


def pair_text(question: str, claim: str, span: str = "", contrast: ContrastWords | None = None) -> str:
    """The first segment the judge reads: the question for context, the claim to check, and (for a judge
    trained with one) the contrast line between claim and span."""
    question = first_part(question)
    text = f"{question} [SEP] {claim.strip()}" if question else claim.strip()
    if contrast is not None:
        text = f"{text} [SEP] {contrast_line(claim, span, contrast)}"
    return text


POOLINGS = ("mean", "mean+max")


def build_network(base_dir: Path | None = None, pooling: str = "mean") -> tuple[Any, Any]:
    """The untrained judge network over the verified base: (tokenizer, module). Training and loading share it.

    `pooling` "mean+max" sets the token-wise maximum beside the mean, so one token's signal (a negation, an
    antonym) is not averaged away over the pair.
    """
    if pooling not in POOLINGS:
        raise ModelIntegrityError(f"unknown judge pooling {pooling!r}; expected one of {', '.join(POOLINGS)}")
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    base_dir = base_dir or model_dir()
    verify_model(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    encoder = AutoModel.from_pretrained(str(base_dir), local_files_only=True)

    class JudgeNetwork(torch.nn.Module):
        """MiniLM over the pair, pooled, then a linear 3-way head (entails, contradicts, neither)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = encoder
            self.dropout = torch.nn.Dropout(0.1)
            width = int(encoder.config.hidden_size) * (2 if pooling == "mean+max" else 1)
            self.head = torch.nn.Linear(width, len(LABELS))

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            if pooling == "mean+max":
                peak = hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).amax(1)
                pooled = torch.cat([pooled, peak], dim=-1)
            return self.head(self.dropout(pooled))

    return tokenizer, JudgeNetwork()


def trained_state(network: Any) -> dict[str, Any]:
    """The tensors worth storing: everything but the frozen word embeddings, as fp16."""
    state = network.state_dict()
    return {
        name: tensor.detach().to("cpu").half().contiguous()
        for name, tensor in state.items()
        if name.startswith("head.") or (name.startswith("bert.") and name[5:].startswith(STORED_PREFIXES))
    }


def load_card(directory: Path = JUDGE_DIR) -> dict[str, Any]:
    path = directory / CARD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelIntegrityError(
            f"{path} is missing; restore rag/grading/judge/ from git or run `make train-judge`"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ModelIntegrityError(
            f"{path} is not valid JSON ({exc}); restore it from git or run `make train-judge`"
        ) from exc


def card_contrast(card: dict[str, Any]) -> ContrastWords | None:
    """The contrast word lists a judge was trained with, or None for a judge trained without the line."""
    raw = card.get("contrast")
    if raw is None:
        return None
    try:
        return ContrastWords.model_validate(raw)
    except ValueError as exc:
        raise ModelIntegrityError(
            f"the judge card's contrast lists are malformed ({exc}); run `make train-judge`"
        ) from exc


def verify_weights(directory: Path = JUDGE_DIR, card: dict[str, Any] | None = None) -> Path:
    """The judge's weights file, refused unless its sha256 equals the card's."""
    expected = str((card if card is not None else load_card(directory)).get("weights_sha256", ""))
    remedy = f"restore it and {CARD_FILE} from git, or run `make train-judge`"
    return verify_sha256(directory / WEIGHTS_FILE, expected, remedy)


def release_freed_memory() -> None:
    """Hand memory freed while loading back to the OS (glibc keeps it otherwise), so the app's RSS stays low."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Judge:
    """Entails / contradicts / neither for (question, claim, span) triples, batched, cached, int8 on the CPU."""

    name = "minilm-judge"

    def __init__(self, directory: Path = JUDGE_DIR, *, quantized: bool = True) -> None:
        import torch
        from safetensors.torch import load_file

        self.card = load_card(directory)
        weights = verify_weights(directory, self.card)
        self.contrast = card_contrast(self.card)
        self.tokenizer, network = build_network(pooling=str(self.card.get("pooling", "mean")))
        stored = load_file(str(weights))
        missing = [name for name in trained_state(network) if name not in stored]
        if missing:
            raise ModelIntegrityError(
                f"{weights} lacks {len(missing)} tensors (e.g. {missing[0]}); run `make train-judge`"
            )
        network.load_state_dict({name: tensor.float() for name, tensor in stored.items()}, strict=False)
        del stored
        network.eval()
        if quantized:  # in place: a quantized copy would hold the fp32 layers too while the app starts
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.ao.quantization.quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        release_freed_memory()
        self.network = network
        self.version = str(self.card.get("weights_sha256", ""))[:12]
        self._torch = torch
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def probabilities(self, items: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """Rows of (entails, contradicts, neither) for (question, claim, span) triples, in order.

        Each pair is read on its own: int8 dynamic quantization scales a whole batch at once, so in a
        batch a pair's probabilities would move with its neighbours and a grade near a threshold would
        depend on what else was read with it. Rounded to 4 decimals.
        """
        if not items:
            return np.zeros((0, len(LABELS)), dtype=np.float64)
        keys = [(pair_text(q, c, s, self.contrast), " ".join(s.split())) for q, c, s in items]
        with self._lock:
            for key in dict.fromkeys(k for k in keys if k not in self._cache):
                self._cache[key] = self._forward([key])[0]
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return np.stack([self._cache[k] for k in keys])

    def _forward(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = self.tokenizer(
                [a for a, _ in pairs],
                [b for _, b in pairs],
                padding=True,
                truncation="longest_first",
                max_length=MAX_LENGTH,
                return_tensors="pt",
            )
            logits = self.network(**batch)
            probs = torch.softmax(logits.float(), dim=-1).numpy().astype(np.float64)
        return np.round(probs, 4)


@lru_cache(maxsize=1)
def get_judge() -> Judge:
    """The process-wide judge; loading takes about a second, so it happens once."""
    return Judge()
