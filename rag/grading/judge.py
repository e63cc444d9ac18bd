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
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.embeddings import model_dir, verify_model, verify_sha256
from rag.errors import ModelIntegrityError

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


def pair_text(question: str, claim: str) -> str:
    """The first segment the judge reads: the question for context, then the claim to check."""
    question = first_part(question)
    return f"{question} [SEP] {claim.strip()}" if question else claim.strip()


def build_network(base_dir: Path | None = None) -> tuple[Any, Any]:
    """The untrained judge network over the verified base: (tokenizer, module). Training and loading share it."""
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
        """MiniLM over the pair, mean-pooled, then a linear 3-way head (entails, contradicts, neither)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = encoder
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(int(encoder.config.hidden_size), len(LABELS))

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
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
        self.tokenizer, network = build_network()
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
        keys = [(pair_text(q, c), " ".join(s.split())) for q, c, s in items]
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

