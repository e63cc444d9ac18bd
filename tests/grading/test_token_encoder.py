"""The MiniLM token encoder: float pooling equals the embedder's, the int8 copy stays close to it."""

from __future__ import annotations

import numpy as np
import pytest

from rag.grading.matching import Matcher
from rag.grading.token_encoder import TokenEncoder


@pytest.fixture(scope="module")
def matcher(embedder) -> Matcher:
    return Matcher(embedder)


POOLING_TEXTS = ["Security groups are stateful.", "A NAT gateway allows outbound connections only."]


def test_the_float_token_encoder_pools_exactly_like_the_embedder(embedder):
    pooled = np.stack([e.pooled for e in TokenEncoder(embedder, quantized=False).encode(POOLING_TEXTS)])
    assert np.allclose(pooled, embedder.embed(POOLING_TEXTS), atol=1e-5)


def test_the_int8_token_encoder_stays_close_to_the_float_model_and_leaves_it_untouched(matcher: Matcher, embedder):
    pooled = np.stack([e.pooled for e in matcher.encoder.encode(POOLING_TEXTS)])
    cosines = np.sum(pooled * embedder.embed(POOLING_TEXTS), axis=1)
    assert np.all(cosines > 0.9), cosines
    assert matcher.encoder.transformer is not embedder.model[0].auto_model
    assert type(embedder.model[0].auto_model.encoder.layer[0].output.dense).__name__ == "Linear"
