"""The poisoning screen as an ingest ``ScreenStep``: ``guards.poisoning`` with the gateway's parts.

The library detects; this step hands it what only the product has: the submitted bytes, the
passages with the embeddings indexing computes anyway (:class:`EmbeddingMemo` lets the indexer
reuse them, so screening costs no second embedding), the collection's trusted passages through
the retrieval backend (:class:`RetrieverNeighbours`), and a flood memory in the gateway's database.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from gateway.authz.filter import AclFilter
from gateway.ingest.prepare import PreparedDocument
from gateway.ingest.screen import Screened
from gateway.retrieval.base import FusionConfig, Retriever, SearchRequest, Vector
from gateway.retrieval.chunking import chunk_title
from gateway.retrieval.embed import Embedder
from guards.poisoning.base import FloatVector, Passage, ScreenDocument
from guards.poisoning.neighbours import Density, Neighbour
from guards.poisoning.policy import ScreeningDecision
from guards.poisoning.screen import PoisonScreen


class EmbeddingMemo:
    """An ``Embedder`` that remembers recent rows by text: the screen embeds a document's passages,
    the indexer asks for the same texts a moment later and gets them back without a second pass."""

    def __init__(self, inner: Embedder, capacity: int = 4096) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.capacity = capacity
        self._rows: OrderedDict[str, FloatVector] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vector:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
        fresh = self.inner.embed(missing) if missing else np.empty((0, self.dimension), dtype=np.float32)
        with self._lock:
            for text, row in zip(missing, fresh, strict=True):
                self._rows[text] = row
            out = np.stack([self._rows[t] for t in texts]) if texts else fresh
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)
        result: Vector = out.astype(np.float32, copy=False)
        return result


class RetrieverNeighbours:
    """Trusted passages of a tenant's collection (the scope is the tenant), by vector similarity."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def nearest(self, vector: FloatVector, *, collection: str, k: int, scope: str = "") -> Sequence[Neighbour]:
        # The whole collection of this tenant: screening compares with every indexed passage,
        # whoever may read it; nothing found here leaves the screen except as reviewer evidence.
        if not scope:
            return []
        acl = AclFilter(tenant=scope, principals=frozenset(), allowed_collections=frozenset({collection}))
        request = SearchRequest(
            text="", vector=vector, acl=acl, k=k, collections=frozenset({collection}), one_per_document=False,
            fusion=FusionConfig(method="weighted", lexical_weight=0.0, candidates=max(k, 10)),
        )  # fmt: skip
        hits = self.retriever.search(request)
        return [Neighbour(h.document_id, h.text, max(float(h.score), 0.0), h.document_id) for h in hits]

    def density(self, collection: str, scope: str = "") -> Density | None:
        return None  # not tracked per collection yet: the closeness signal is left out in the gateway


class PoisoningStep:
    """``guards.poisoning`` as the flow's screening step."""

    name = "poisoning"

    def __init__(self, screen: PoisonScreen, *, embedder: Embedder | None, passages: int = 4) -> None:
        self.poison_screen = screen
        self.embedder = embedder
        self.passages = passages

    def screen(self, document: PreparedDocument, *, tenant: str) -> Screened:
        doc = document.doc
        source = doc.source_uri or "upload"
        screen_doc = ScreenDocument(
            text=doc.text, raw=document.raw, mime_type=doc.mime_type, title=doc.title,
            source=f"{tenant}/{source}", collection=doc.collection, scope=tenant, passages=self._passages(document),
            submitted_at=time.time(), key=doc.document_id,
        )  # fmt: skip
        # Trust follows the source as submitted; floods are counted per tenant and source.
        decision = self.poison_screen.screen(screen_doc, trust=self.poison_screen.policy.trust_of(source))
        return _screened(decision)

    def _passages(self, document: PreparedDocument) -> tuple[Passage, ...]:
        spans = document.spans[: self.passages]
        if self.embedder is None or not spans:
            return ()
        # The texts the indexer embeds (title and heading as context), so the memo serves it.
        texts = [f"{chunk_title(document.doc.title, s.heading)}\n{s.text}" for s in spans]
        vectors = self.embedder.embed(texts)
        return tuple(Passage(s.text, vectors[i]) for i, s in enumerate(spans))


def _screened(decision: ScreeningDecision) -> Screened:
    labels: dict[str, Any] = {"action": decision.action, "trust": decision.trust}
    if decision.reasons:
        labels["reasons"] = [{"detector": r.detector, "score": r.score} for r in decision.reasons]
    quarantine = tuple(f"{r.detector} ({r.score:.2f})" for r in decision.reasons)
    evidence = tuple(r.as_dict() for r in decision.reasons)
    verdicts = tuple(v.summary() for v in decision.verdicts)
    return Screened(labels=labels, quarantine=quarantine, verdicts=verdicts, evidence=evidence)
