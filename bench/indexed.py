"""The synthetic corpus written the way ingest writes it: index *and* document registry.

The HTTP benchmarks write the index directly (embedding 100k chunks with the real model would take
longer than the benchmark), but the pipeline's re-check serves a hit only when the document
registry names its version as the committed, searchable one (``gateway.retrieval.recheck``).
Without registry rows every hit is dropped as ``stale_chunk`` and ``/v1/ask`` measures a refusal
path. So each batch follows the ingest flow's order, through the product's own registry code:
``DocumentRegistry.assign_version`` (transaction A) → ``replace_documents`` on the index →
``DocumentRegistry.commit_version`` (transaction B). What is left out: the ingest audit rows (the
benchmarks count only ``ask``/``search`` rows) and parsing, chunking and screening (the chunks are
the corpus's own).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.common import console
from bench.synthetic import SyntheticCorpus, User
from gateway.db import make_engine
from gateway.ingest.documents import DocumentInput
from gateway.ingest.registry import DocumentRegistry
from gateway.retrieval.base import Chunk
from gateway.retrieval.embedded.retriever import EmbeddedRetriever

DOCS_PER_BATCH = 1_000


def document_input(tenant: str, document_id: str, chunks: list[Chunk]) -> DocumentInput:
    """The submission a caller would have sent for these chunks (same collection and ACL)."""
    first = chunks[0]
    return DocumentInput(
        document_id=document_id,
        title=first.title,
        text="\n\n".join(c.text for c in chunks),
        collection=first.collection,
        allow=first.acl_allow,
        deny=first.acl_deny,
    )


def write_indexed(corpus: SyntheticCorpus, index_dir: Path, database_url: str, model_id: str, dimension: int) -> None:
    """Index every chunk and commit every document's version in the registry (migrated database)."""
    engine = make_engine(database_url)
    registry = DocumentRegistry(engine)
    retriever = EmbeddedRetriever(index_dir)
    retriever.ensure_index(model_id, dimension)
    start = time.perf_counter()
    try:
        for items in corpus.batches(DOCS_PER_BATCH):
            docs = [(document_input(tenant, doc_id, list(chunks)), chunks) for tenant, doc_id, chunks in items]
            with engine.begin() as conn:  # transaction A: the versions, assigned by the database
                versions = [registry.assign_version(conn, corpus.spec.tenant, doc) for doc, _ in docs]
            for (doc, chunks), version in zip(docs, versions, strict=True):
                if any(c.version != version for c in chunks):  # a re-run over an old registry
                    raise RuntimeError(f"{doc.document_id}: registry assigned version {version}, chunks carry 1")
            retriever.replace_documents(items)
            with engine.begin() as conn:  # transaction B: now searchable
                for (doc, chunks), version in zip(docs, versions, strict=True):
                    registry.commit_version(
                        conn, corpus.spec.tenant, doc, digest=doc.content_hash(), version=version, chunks=len(chunks)
                    )
    finally:
        retriever.close()
        engine.dispose()
    elapsed = time.perf_counter() - start
    console.print(f"index + registry: {corpus.spec.chunks:,} chunks, {corpus.documents:,} documents in {elapsed:.0f} s")


def visible_questions(corpus: SyntheticCorpus, user: User, count: int, *, words: int = 8, seed: int = 11) -> list[str]:
    """``count`` distinct questions, each a ``words``-word window of a passage ``user`` may read, so
    that asks retrieve something answerable (``draw_queries`` draws from every passage, and a 5%
    user can read few of them). Distinct texts: the query LRU must not make the figures."""
    visible = np.flatnonzero(corpus.visible_mask(corpus.acl_for(user)))
    rng = np.random.default_rng((corpus.spec.seed, 4, seed))
    out: dict[str, None] = {}
    for _ in range(100):  # bounded: a tiny corpus may not hold ``count`` distinct windows
        if len(out) >= count:
            break
        for i in sorted(rng.choice(visible, min(len(visible), count), replace=False).tolist()):
            passage = corpus.texts(i, i + 1)[0].split()
            start = int(rng.integers(0, max(1, len(passage) - words)))
            out[" ".join(passage[start : start + words])] = None
    if len(out) < count:
        raise ValueError(f"{user.name} can read too few passages for {count} distinct questions")
    questions = list(out)[:count]
    rng.shuffle(questions)  # sources were visited in order (cheap regeneration); phases get a fair mix
    return questions
