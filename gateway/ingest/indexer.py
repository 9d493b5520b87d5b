"""Index: turn prepared documents into chunks with vectors, one embedding call per batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.ingest.prepare import PreparedDocument
from gateway.retrieval.base import Chunk, Vector
from gateway.retrieval.chunking import chunk_title, make_chunk_id
from gateway.retrieval.embed import Embedder

EMBED_BATCH = 64
"""Chunks per embedding call: bounded, so one large document cannot hold the embedder for long."""


def build_chunks(embedder: Embedder, tenant: str, items: Sequence[tuple[PreparedDocument, int]]) -> list[list[Chunk]]:
    """The chunks of every ``(document, version)``, embedded in batches of :data:`EMBED_BATCH`."""
    texts = [_embedding_text(p.doc.title, s.heading, s.text) for p, _ in items for s in p.spans]
    batches = [embedder.embed(texts[start : start + EMBED_BATCH]) for start in range(0, len(texts), EMBED_BATCH)]
    vectors: Vector = np.concatenate(batches) if batches else np.empty((0, embedder.dimension), dtype=np.float32)
    out: list[list[Chunk]] = []
    offset = 0
    for prepared, version in items:
        out.append(_chunks(tenant, prepared, version, vectors[offset : offset + len(prepared.spans)]))
        offset += len(prepared.spans)
    return out


def _chunks(tenant: str, prepared: PreparedDocument, version: int, vectors: Vector) -> list[Chunk]:
    doc = prepared.doc
    allow, deny, labels = tuple(sorted(set(doc.allow))), tuple(sorted(set(doc.deny))), tuple(sorted(set(doc.labels)))
    return [
        Chunk(
            chunk_id=make_chunk_id(tenant, doc.document_id, s.ordinal, s.text),
            document_id=doc.document_id,
            tenant=tenant,
            collection=doc.collection,
            version=version,
            ordinal=s.ordinal,
            title=chunk_title(doc.title, s.heading),
            text=s.text,
            acl_allow=allow,
            acl_deny=deny,
            labels=labels,
            vector=vectors[i],
        )
        for i, s in enumerate(prepared.spans)
    ]


def _embedding_text(title: str, heading: str, text: str) -> str:
    """Chunks are embedded with their document title and heading path as context."""
    return f"{chunk_title(title, heading)}\n{text}"
