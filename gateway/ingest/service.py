"""Document ingest: authorise → parse → chunk → embed → index → record, idempotent and versioned.

Idempotent by (tenant, id, content hash): the hash covers everything that is copied onto the
chunks (title, text, collection, ACL, labels), so an ACL change re-indexes the document. A new
version replaces the old chunks atomically in the retrieval backend; the SQL registry says what
is really searchable (``indexed``) and records ``failed`` when the backend refused the write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from gateway.auth.principal import Principal
from gateway.authz.service import DocumentRef, PolicyService
from gateway.errors import GatewayError, InvalidRequest, NotFound, PermissionDenied
from gateway.ingest.documents import DocumentInput, IngestResult
from gateway.ingest.models import DocumentRow
from gateway.ingest.registry import DocumentRegistry
from gateway.retrieval.base import Chunk, Retriever, Vector
from gateway.retrieval.chunking import ChunkSpan, chunk_text, chunk_title, make_chunk_id
from gateway.retrieval.document import passage_vectors
from gateway.retrieval.embed import Embedder
from gateway.settings import ChunkingSettings

log = logging.getLogger("gateway.ingest")


@dataclass
class DocumentService:
    """Owns the document registry and keeps it consistent with the retrieval backend."""

    engine: Engine
    retriever: Retriever
    embedder: Embedder
    policy: PolicyService
    chunking: ChunkingSettings
    registry: DocumentRegistry = field(init=False)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.registry = DocumentRegistry(self.engine)

    def _lock(self, tenant: str, document_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((tenant, document_id), threading.Lock())

    def may_write(self, principal: Principal, collection: str) -> bool:
        """Write on the collection, or on ``system:documents`` (admins: ingest anywhere, read nothing extra)."""
        return (
            self.policy.decide(principal, f"collection:{collection}", "write").allowed
            or self.policy.decide(principal, "system:documents", "write").allowed
        )

    def require_write(self, principal: Principal, collection: str) -> None:
        if not self.may_write(principal, collection):
            raise PermissionDenied("you may not write to this collection")

    def ingest(self, principal: Principal, doc: DocumentInput) -> IngestResult:
        """Index ``doc`` in the principal's tenant (write permission on its collection required)."""
        doc.validate()
        self.require_write(principal, doc.collection)
        return self.ingest_unchecked(principal.tenant, doc)

    def ingest_unchecked(self, tenant: str, doc: DocumentInput) -> IngestResult:
        """Index without a permission check: for the operator CLI, which runs with the data dir's rights."""
        doc.validate()
        digest = doc.content_hash()
        with self._lock(tenant, doc.document_id):
            existing = self.registry.get(tenant, doc.document_id)
            if existing is not None and existing.content_hash == digest and existing.status == "indexed":
                return IngestResult(doc.document_id, existing.version, existing.status, False, existing.chunk_count)
            version = 1 if existing is None else existing.version + 1
            chunks = self._make_chunks(tenant, doc, version)
            try:
                self.retriever.replace_document(tenant, doc.document_id, chunks)
                status = "indexed"
            except GatewayError:
                status = "failed"
                self.registry.record(tenant, doc, digest, version if existing is None else existing.version, status, 0)
                raise
            self.registry.record(tenant, doc, digest, version, status, len(chunks))
            log.info(
                "document indexed",
                extra={
                    "document_id": doc.document_id,
                    "version": version,
                    "chunks": len(chunks),
                    "tenant": tenant,
                },
            )
            return IngestResult(doc.document_id, version, status, True, len(chunks))

    def ingest_many(
        self,
        tenant: str,
        docs: Sequence[DocumentInput],
        *,
        batch_chunks: int = 256,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Bulk ingest (operator path, no permission check): one embedding call and one index commit
        per batch of about ``batch_chunks`` chunks, instead of one of each per document.
        """
        results: list[IngestResult] = []
        pending: list[tuple[DocumentInput, str, int, list[ChunkSpan]]] = []
        size = 0
        for doc in docs:
            doc.validate()
            digest = doc.content_hash()
            existing = self.registry.get(tenant, doc.document_id)
            if existing is not None and existing.content_hash == digest and existing.status == "indexed":
                result = IngestResult(doc.document_id, existing.version, existing.status, False, existing.chunk_count)
                results.append(result)
                if progress:
                    progress(result)
                continue
            spans = self._spans(doc)
            pending.append((doc, digest, 1 if existing is None else existing.version + 1, spans))
            size += len(spans)
            if size >= batch_chunks:
                results.extend(self._flush(tenant, pending, progress))
                pending, size = [], 0
        results.extend(self._flush(tenant, pending, progress))
        return results

    def _flush(
        self,
        tenant: str,
        pending: list[tuple[DocumentInput, str, int, list[ChunkSpan]]],
        progress: Callable[[IngestResult], None] | None,
    ) -> list[IngestResult]:
        if not pending:
            return []
        vectors = passage_vectors(self.embedder, [(d.title, d.text, spans) for d, _, _, spans in pending])
        items: list[tuple[str, str, Sequence[Chunk]]] = []
        offset = 0
        for doc, _, version, spans in pending:
            items.append(
                (
                    tenant,
                    doc.document_id,
                    self._chunks(tenant, doc, version, spans, vectors[offset : offset + len(spans)]),
                )
            )
            offset += len(spans)
        self.retriever.replace_documents(items)
        out: list[IngestResult] = []
        for (doc, digest, version, spans), _item in zip(pending, items, strict=True):
            self.registry.record(tenant, doc, digest, version, "indexed", len(spans))
            result = IngestResult(doc.document_id, version, "indexed", True, len(spans))
            out.append(result)
            if progress:
                progress(result)
        return out

    def _spans(self, doc: DocumentInput) -> list[ChunkSpan]:
        spans = chunk_text(doc.text, max_tokens=self.chunking.max_tokens, overlap_tokens=self.chunking.overlap_tokens)
        if not spans:
            raise InvalidRequest("the document has no indexable text")
        return spans

    def _make_chunks(self, tenant: str, doc: DocumentInput, version: int) -> list[Chunk]:
        spans = self._spans(doc)
        vectors = passage_vectors(self.embedder, [(doc.title, doc.text, spans)])
        return self._chunks(tenant, doc, version, spans, vectors)

    def _chunks(
        self, tenant: str, doc: DocumentInput, version: int, spans: list[ChunkSpan], vectors: Vector
    ) -> list[Chunk]:
        allow, deny, labels = (
            tuple(sorted(set(doc.allow))),
            tuple(sorted(set(doc.deny))),
            tuple(sorted(set(doc.labels))),
        )
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
            for i, s in enumerate(spans)
        ]

    def get(self, principal: Principal, document_id: str) -> DocumentRow:
        """The registry row, if the principal may read the document; otherwise 404 (never 403)."""
        row = self.registry.get(principal.tenant, document_id)
        if row is None or row.status == "deleted" or not self.policy.can_read(principal, document_ref(row)).allowed:
            raise NotFound("no such document")
        return row

    def find(self, tenant: str, document_id: str) -> DocumentRow | None:
        """The live registry row, without a permission check (for admin explain)."""
        row = self.registry.get(tenant, document_id)
        return None if row is None or row.status == "deleted" else row

    def delete(self, principal: Principal, document_id: str) -> DocumentRow:
        row = self.registry.get(principal.tenant, document_id)
        if row is None or row.status == "deleted":
            raise NotFound("no such document")
        if not self.may_write(principal, row.collection):
            # Do not reveal documents the caller cannot see; those it can see but not write: 403.
            if not self.policy.can_read(principal, document_ref(row)).allowed:
                raise NotFound("no such document")
            raise PermissionDenied("you may not delete documents in this collection")
        with self._lock(principal.tenant, document_id):
            self.retriever.delete_document(principal.tenant, document_id)
            self.registry.set_status(principal.tenant, document_id, "deleted", 0)
        return row


def document_ref(row: DocumentRow) -> DocumentRef:
    """What the policy needs to decide on a registered document."""
    acl = row.acl or {}
    return DocumentRef(
        tenant=row.tenant,
        collection=row.collection,
        allow=tuple(acl.get("allow", ())),
        deny=tuple(acl.get("deny", ())),
        document_id=row.document_id,
    )
