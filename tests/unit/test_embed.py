"""Embedders: normalised float32 rows; the real model ranks a paraphrase above an unrelated text."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.retrieval.embed import Embedder, HashingEmbedder, TransformersEmbedder
from gateway.settings import EmbeddingSettings


def test_hashing_embedder_rows_are_normalised_and_deterministic() -> None:
    embedder = HashingEmbedder(32)
    vectors = embedder.embed(["travel policy", "travel policy", "", "laptops"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, 32)
    assert np.allclose(np.linalg.norm(vectors[[0, 1, 3]], axis=1), 1.0)
    assert np.array_equal(vectors[0], vectors[1])
    assert not vectors[2].any()
    assert isinstance(embedder, Embedder)


def test_hashing_embedder_prefers_shared_words() -> None:
    query, near, far = HashingEmbedder(256).embed(["travel expense policy", "the travel expense rules", "badge"])
    assert float(query @ near) > float(query @ far)


@pytest.fixture(scope="module")
def model() -> TransformersEmbedder:
    return TransformersEmbedder(EmbeddingSettings(batch_size=2, threads=2))


def test_transformers_embedder_ranks_paraphrase_above_unrelated(model: TransformersEmbedder) -> None:
    vectors = model.embed(
        [
            "How do I reset my password?",
            "What are the steps to change a forgotten password?",
            "The cafeteria serves lunch from noon until two.",
        ]
    )
    assert model.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert vectors.shape == (3, model.dimension) == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.3


def test_bf16_embeddings_match_fp32() -> None:
    texts = ["The on-call stipend is $400 per week.", "Expense reports are due within 30 days.", "badge"]
    fp32 = TransformersEmbedder(EmbeddingSettings(precision="fp32")).embed(texts)
    bf16 = TransformersEmbedder(EmbeddingSettings(precision="bf16")).embed(texts)
    assert bf16.dtype == np.float32
    assert float((fp32 * bf16).sum(axis=1).min()) > 0.999
