import numpy as np
import pytest

from rag.embeddings import DIMENSIONS, EXPECTED_SHA256, file_sha256, model_dir, verify_model
from rag.errors import ModelIntegrityError


def test_bundled_weights_match_the_published_checksum():
    assert file_sha256(model_dir() / "model.safetensors") == EXPECTED_SHA256
    verify_model(model_dir())


def test_tampered_or_missing_weights_are_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not the real weights")
    with pytest.raises(ModelIntegrityError, match="refusing to load unverified weights"):
        verify_model(tmp_path)
    with pytest.raises(ModelIntegrityError, match="missing"):
        verify_model(tmp_path / "elsewhere")


def test_embeddings_are_normalised_and_semantic(embedder):
    vectors = embedder.embed(
        ["Security groups are stateful firewalls", "A security group is a stateful firewall", "Bake bread at 220C"]
    )
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.8 > 0.3 > vectors[0] @ vectors[2]


def test_cached_and_uncached_embeddings_agree(embedder):
    text = "Dead-letter queues catch poison messages"
    assert np.allclose(embedder.embed([text])[0], embedder.embed_uncached([text])[0], atol=1e-6)


def test_the_few_texts_path_gives_sentence_transformers_vectors_bit_for_bit(embedder):
    """Grading embeds through `_encode_few`; the thresholds were selected on `SentenceTransformer.encode`'s vectors."""
    texts = [f"Security groups are stateful, rule {i} " + "and more words " * (i % 7) for i in range(40)]
    for batch in (texts[:1], texts[:3], texts):
        assert np.array_equal(embedder._encode_few(batch, 32), embedder._encode(batch, 32))
