"""The retrieval seam: value types and the ``Retriever`` protocol every backend implements.

Backends never import each other; ``gateway.deps`` picks one from settings. The conformance
suite in ``tests/contracts`` runs the same tests against every implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from gateway.authz.filter import AclFilter

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One indexed passage of one version of one document, with the document's ACL copied on."""

    chunk_id: str
    """Stable across re-ingest of unchanged text: derived from (tenant, document id, text hash, ordinal)."""
    document_id: str
    tenant: str
    collection: str
    version: int
    ordinal: int
    title: str
    text: str
    acl_allow: tuple[str, ...] = ()
    acl_deny: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    vector: Vector | None = None


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """How BM25 and vector result lists are combined (same semantics on every backend).

    ``rrf``: score = Σ 1 / (rank_constant + rank), ranks starting at 1 (OpenSearch score-ranker).
    ``weighted``: min-max normalise each list, then weighted arithmetic mean (OpenSearch
    normalization-processor with ``min_max`` + ``arithmetic_mean``); a hit missing from one list
    scores 0 there.
    """

    method: Literal["rrf", "weighted"] = "rrf"
    rank_constant: int = 60
    lexical_weight: float = 0.5
    candidates: int = 50


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One permission-filtered hybrid search."""

    text: str
    vector: Vector
    acl: AclFilter
    k: int = 5
    collections: frozenset[str] | None = None
    """The caller's own scope; applied in addition to the ACL filter."""
    fusion: FusionConfig = field(default_factory=FusionConfig)
    one_per_document: bool = True


@dataclass(frozen=True, slots=True)
class Hit:
    """A permitted search result. ACL fields travel along for the defence-in-depth re-check."""

    chunk_id: str
    document_id: str
    tenant: str
    collection: str
    version: int
    title: str
    text: str
    score: float
    acl_allow: tuple[str, ...] = ()
    acl_deny: tuple[str, ...] = ()
    highlights: tuple[str, ...] = ()
    lexical_rank: int | None = None
    vector_rank: int | None = None


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What the index was built with; a mismatch with the running embedder is refused at start."""

    embedding_model: str
    dimension: int
    chunk_count: int


@runtime_checkable
class Retriever(Protocol):
    """A retrieval backend. Every method raises ``gateway.errors.SearchUnavailable`` when down."""

    def ensure_index(self, embedding_model: str, dimension: int) -> IndexInfo:
        """Create the index if missing; refuse (``SearchUnavailable``) a model/dimension mismatch."""
        ...

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[Chunk]) -> None:
        """Atomically replace every chunk of the document with ``chunks`` (all of one version).

        No concurrent search may see a mix of old and new chunks, nor none of either.
        """
        ...

    def replace_documents(self, items: Sequence[tuple[str, str, Sequence[Chunk]]]) -> None:
        """Bulk ``replace_document`` for ``(tenant, document_id, chunks)`` items (ingest batches)."""
        ...

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Remove every chunk of the document; it is never retrievable afterwards."""
        ...

    def search(self, request: SearchRequest) -> list[Hit]:
        """Hybrid BM25 + vector search, ACL filter applied inside both before top-k."""
        ...

    def lexical_search(self, request: SearchRequest) -> list[Hit]:
        """BM25 only (same filter), for evaluation and the query-adaptive router."""
        ...

    def vector_search(self, request: SearchRequest) -> list[Hit]:
        """Vectors only (same filter), for evaluation."""
        ...

    def ping(self) -> None:
        """Raise ``SearchUnavailable`` unless the backend can serve searches now."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ChunkTexts(Protocol):
    """A backend that can list one document's indexed chunk texts (the embedded engine can)."""

    def document_texts(self, tenant: str, document_id: str) -> list[str]: ...
