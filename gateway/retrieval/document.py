"""Document-level evidence for the dense side: every passage vector carries its document's head.

A passage is embedded with its title and heading path (``embedding_text``). A document of more
than one chunk is also embedded once as a whole -- its title and the start of its text, which the
embedder truncates to its input limit (256 word pieces for all-MiniLM-L6-v2): the *head*. Each
chunk's indexed vector is ``(chunk + head) / 2``, not renormalised, so for a unit query vector

    query . (chunk + head) / 2 = (cos(query, chunk) + cos(query, head)) / 2

and a document's best chunk scores the mean of its best passage's cosine and its head's cosine.
Measured on the dev splits of the quality suite (bench/quality_tune.py, docs/benchmarks.md): dense
MRR@10 averaged over the corpora 0.760 (best chunk) -> 0.764, FAQ 0.812 -> 0.826, technical
documentation 0.674 -> 0.689; the head alone was worse (0.751), max(chunk, head) no better (0.759),
and renormalising the sum lost the gain (0.758). Nothing changes at query time, on either backend.

Single-chunk documents need no head: the chunk already is the whole document.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.retrieval.base import Vector
from gateway.retrieval.chunking import ChunkSpan, chunk_title
from gateway.retrieval.embed import Embedder


def embedding_text(title: str, heading: str, text: str) -> str:
    """A chunk is embedded with its document title and heading path as context."""
    return f"{chunk_title(title, heading)}\n{text}"


def head_text(title: str, text: str) -> str:
    """What a document's head vector embeds: its title and text (the embedder keeps the start)."""
    return f"{title}\n{text}" if title else text


def passage_vectors(
    embedder: Embedder, documents: Sequence[tuple[str, str, Sequence[ChunkSpan]]], *, batch: int = 64
) -> Vector:
    """Indexed vectors for every chunk of every ``(title, text, spans)`` document, in order.

    Chunks and heads are embedded in calls of at most ``batch`` texts (bounded, so one large
    document cannot hold the embedder for long); see the module docstring for the arithmetic.
    """
    texts = [embedding_text(title, s.heading, s.text) for title, _, spans in documents for s in spans]
    with_head = [i for i, (_, _, spans) in enumerate(documents) if len(spans) > 1]
    texts += [head_text(documents[i][0], documents[i][1]) for i in with_head]
    parts = [embedder.embed(texts[start : start + batch]) for start in range(0, len(texts), batch)]
    embedded = np.concatenate(parts) if parts else np.empty((0, embedder.dimension), dtype=np.float32)
    n_chunks = len(texts) - len(with_head)
    vectors: Vector = np.array(embedded[:n_chunks], dtype=np.float32)
    starts = np.cumsum([0, *(len(spans) for _, _, spans in documents)])
    for j, i in enumerate(with_head):
        lo, hi = int(starts[i]), int(starts[i + 1])
        vectors[lo:hi] = (vectors[lo:hi] + embedded[n_chunks + j]) / 2
    return vectors
