"""Document-level dense evidence: passage vectors averaged with their document's head."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.retrieval.chunking import ChunkSpan
from gateway.retrieval.document import embedding_text, head_text, passage_vectors
from gateway.retrieval.embed import HashingEmbedder

EMBEDDER = HashingEmbedder(64)
LONG = ("Release process", "the release is cut on mondays. then it is tagged and announced.")
SPANS = [
    ChunkSpan(0, "the release is cut on mondays.", "Cutting"),
    ChunkSpan(1, "then it is tagged and announced.", ""),
]


def test_a_multi_chunk_document_mixes_each_passage_with_its_head() -> None:
    vectors = passage_vectors(EMBEDDER, [(*LONG, SPANS)])
    chunks = EMBEDDER.embed([embedding_text(LONG[0], s.heading, s.text) for s in SPANS])
    head = EMBEDDER.embed([head_text(*LONG)])[0]
    assert np.allclose(vectors, (chunks + head) / 2)
    query = EMBEDDER.embed(["when is the release tagged"])[0]
    # The dot product with a unit query is the mean of the two cosines (no renormalisation).
    assert vectors[1] @ query == pytest.approx((chunks[1] @ query + head @ query) / 2, abs=1e-6)


def test_a_single_chunk_document_is_its_own_head() -> None:
    span = [ChunkSpan(0, "short note", "")]
    (vector,) = passage_vectors(EMBEDDER, [("Note", "short note", span)])
    assert np.allclose(vector, EMBEDDER.embed([embedding_text("Note", "", "short note")])[0])


def test_several_documents_in_one_call_keep_their_order() -> None:
    single = ("Note", "short note", [ChunkSpan(0, "short note", "")])
    together = passage_vectors(EMBEDDER, [single, (*LONG, SPANS), single])
    apart = [passage_vectors(EMBEDDER, [doc]) for doc in (single, (*LONG, SPANS), single)]
    assert np.allclose(together, np.concatenate(apart))
