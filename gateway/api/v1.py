"""``/v1`` search, ask and document routes: each handler is a few lines over the services."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from gateway.api.schemas import (
    AskBody,
    AskOut,
    CitationOut,
    DocumentIn,
    DocumentInfoOut,
    DocumentOut,
    SearchBody,
    SearchHitOut,
    SearchOut,
)
from gateway.api.security import authenticate, services_of
from gateway.audit.record import AuditRecord, AuditStatus
from gateway.auth.principal import Principal
from gateway.deps import Services
from gateway.errors import InvalidRequest
from gateway.ingest.documents import DocumentInput
from gateway.ingest.parsers import parse_document
from gateway.observability import request_id_var

AuthedRequest = Request[Principal, Any, State]


def _k(services: Services, k: int | None) -> int:
    return min(k or services.settings.search.default_k, services.settings.search.max_k)


def audit_change(
    services: Services, principal: Principal, action: str, details: dict[str, Any], status: AuditStatus = "ok"
) -> None:
    """One audit row per administrative or data change, written before the response leaves."""
    services.audit.append(
        AuditRecord.of(
            principal,
            request_id=request_id_var.get(),
            kind="admin",
            status=status,
            policy_version=services.policy.version,
            action=action,
            details=details,
        )
    )


class RetrievalController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1"
    tags = ("retrieval",)

    @post("/search", sync_to_thread=True, status_code=200)
    def search(self, request: AuthedRequest, data: JSONBody[SearchBody]) -> SearchOut:
        """Hybrid search over the documents the caller may read; nothing else is ever scored."""
        services = services_of(request)
        out = services.pipeline.search(
            request.user,
            data.query,
            k=_k(services, data.k),
            collections=frozenset(data.collections) if data.collections else None,
            one_per_document=data.one_per_document,
            request_id=request_id_var.get(),
        )
        return SearchOut(
            hits=[
                SearchHitOut(
                    document_id=h.document_id,
                    chunk_id=h.chunk_id,
                    title=h.title,
                    version=h.version,
                    score=h.score,
                    text=h.text,
                    highlights=list(h.highlights),
                    collection=h.collection,
                )
                for h in out.hits
            ],
            request_id=out.request_id,
        )

    @post("/ask", sync_to_thread=True, status_code=200)
    def ask(self, request: AuthedRequest, data: JSONBody[AskBody]) -> AskOut:
        """Answer with citations from permitted passages; audited before the response leaves."""
        services = services_of(request)
        out = services.pipeline.ask(
            request.user,
            data.question,
            k=_k(services, data.k),
            collections=frozenset(data.collections) if data.collections else None,
            request_id=request_id_var.get(),
        )
        c = out.completion
        return AskOut(
            answer=c.text,
            request_id=out.request_id,
            answered=c.answered,
            generator=c.generator,
            citations=[
                CitationOut(
                    marker=x.marker,
                    document_id=x.document_id,
                    chunk_id=x.chunk_id,
                    title=x.title,
                    version=x.version,
                    score=x.score,
                )
                for x in c.citations
            ],
        )


class DocumentController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/documents"
    tags = ("documents",)

    @post("/", sync_to_thread=True)
    def put_document(self, request: AuthedRequest, data: JSONBody[DocumentIn]) -> Response[DocumentOut]:
        """Ingest (or re-ingest) a document; 201 when a new version was indexed, 200 when unchanged."""
        services = services_of(request)
        services.documents.require_write(request.user, data.collection)  # before parsing anything
        doc = _to_input(data, services.settings.max_document_bytes)
        result = services.documents.ingest(request.user, doc)
        audit_change(
            services,
            request.user,
            "document.put",
            {
                "document_id": result.document_id,
                "version": result.version,
                "status": result.status,
                "collection": doc.collection,
                "changed": result.created,
                "chunks": result.chunk_count,
            },
        )
        body = DocumentOut(id=result.document_id, version=result.version, status=result.status)
        return Response(body, status_code=201 if result.created else 200)

    @get("/{document_id:path}", sync_to_thread=True)
    def get_document(self, request: AuthedRequest, document_id: FromPath[str]) -> DocumentInfoOut:
        services = services_of(request)
        row = services.documents.get(request.user, document_id.lstrip("/"))
        return DocumentInfoOut(
            id=row.document_id,
            version=row.version,
            status=row.status,
            title=row.title,
            collection=row.collection,
            acl=row.acl,
            labels=list(row.labels or []),
            chunk_count=row.chunk_count,
            source_uri=row.source_uri,
            mime_type=row.mime_type,
        )

    @delete("/{document_id:path}", sync_to_thread=True, status_code=200)
    def delete_document(self, request: AuthedRequest, document_id: FromPath[str]) -> DocumentOut:
        services = services_of(request)
        row = services.documents.delete(request.user, document_id.lstrip("/"))
        audit_change(
            services,
            request.user,
            "document.delete",
            {"document_id": row.document_id, "version": row.version, "collection": row.collection},
        )
        return DocumentOut(id=row.document_id, version=row.version, status="deleted")


def _to_input(data: JSONBody[DocumentIn], max_bytes: int) -> DocumentInput:
    if (data.text is None) == (data.content_base64 is None):
        raise InvalidRequest("give exactly one of 'text' or 'content_base64' (with 'mime_type')")
    title = data.title
    mime = data.mime_type or "text/plain"
    if data.content_base64 is not None:
        if data.mime_type is None:
            raise InvalidRequest("'content_base64' needs 'mime_type'")
        if len(data.content_base64) > max_bytes * 4 // 3 + 4:
            raise InvalidRequest("document too large")
        try:
            raw = base64.b64decode(data.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("'content_base64' is not valid base64") from None
        parsed = parse_document(raw, data.mime_type, max_bytes=max_bytes)
        text = parsed.text
        title = title or parsed.title
    else:
        text = data.text or ""
        if len(text.encode()) > max_bytes:
            raise InvalidRequest("document too large")
    updated = None
    if data.updated_at:
        try:
            updated = datetime.fromisoformat(data.updated_at)
        except ValueError:
            raise InvalidRequest("'updated_at' must be an ISO 8601 timestamp") from None
    return DocumentInput(
        document_id=data.id,
        title=title or data.id,
        text=text,
        collection=data.collection,
        allow=tuple(data.acl.allow),
        deny=tuple(data.acl.deny),
        labels=tuple(data.labels),
        source_uri=data.source_uri,
        mime_type=mime,
        updated_at=updated,
    )
