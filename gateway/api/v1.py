"""``/v1`` search, ask and document routes: each handler is a few lines over injected services."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from gateway.api.body import strict_body
from gateway.api.schemas import (
    AskBody,
    AskOut,
    CitationOut,
    DocumentIn,
    DocumentInfoOut,
    DocumentOut,
    ScreeningReasonOut,
    SearchBody,
    SearchHitOut,
    SearchOut,
)
from gateway.api.security import authenticate
from gateway.auth.principal import Principal
from gateway.errors import InvalidRequest
from gateway.ingest.documents import IngestResult, Submission
from gateway.ingest.service import Context, DocumentService
from gateway.observability import request_id_var
from gateway.pipeline import AnswerPipeline
from gateway.settings import Settings

AuthedRequest = Request[Principal, Any, State]


def _k(settings: Settings, k: int | None) -> int:
    return min(k or settings.search.default_k, settings.search.max_k)


def _scope(collections: list[str] | None) -> frozenset[str] | None:
    return frozenset(collections) if collections else None


class RetrievalController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1"
    tags = ("retrieval",)

    @post("/search", sync_to_thread=True, status_code=200, before_request=strict_body(SearchBody))
    def search(
        self,
        request: AuthedRequest,
        data: JSONBody[SearchBody],
        pipeline: NamedDependency[AnswerPipeline],
        settings: NamedDependency[Settings],
    ) -> SearchOut:
        """Hybrid search over the documents the caller may read; nothing else is ever scored."""
        out = pipeline.search(
            request.user,
            data.query,
            k=_k(settings, data.k),
            collections=_scope(data.collections),
            one_per_document=data.one_per_document,
            request_id=request_id_var.get(),
        )
        hits = [
            SearchHitOut(
                document_id=h.document_id, chunk_id=h.chunk_id, title=h.title, version=h.version, score=h.score,
                text=h.text, highlights=list(h.highlights), collection=h.collection,
            )
            for h in out.hits
        ]  # fmt: skip
        return SearchOut(hits=hits, request_id=out.request_id)

    @post(
        "/ask", sync_to_thread=True, status_code=200, before_request=strict_body(AskBody),
        responses={200: ResponseSpec(
                AskOut,
                description="The answer (or, with stream: true, server-sent events)",
                generate_examples=False,  # random examples would make the served schema differ per build
            )},
    )  # fmt: skip
    def ask(
        self,
        request: AuthedRequest,
        data: JSONBody[AskBody],
        pipeline: NamedDependency[AnswerPipeline],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Answer with citations from permitted passages; audited before the response leaves.

        With ``stream: true`` the answer comes as server-sent events (docs/generation.md).
        """
        if data.stream:
            events = pipeline.ask_stream(
                request.user, data.question, k=_k(settings, data.k), collections=_scope(data.collections),
                request_id=request_id_var.get(),
            )  # fmt: skip
            return ServerSentEvent(ServerSentEventMessage(data=json.dumps(e.data), event=e.event) for e in events)
        out = pipeline.ask(
            request.user,
            data.question,
            k=_k(settings, data.k),
            collections=_scope(data.collections),
            request_id=request_id_var.get(),
        )
        c = out.completion
        citations = [
            CitationOut(
                marker=x.marker, document_id=x.document_id, chunk_id=x.chunk_id, title=x.title, version=x.version,
                score=x.score,
            )
            for x in c.citations
        ]  # fmt: skip
        return Response(
            AskOut(
                answer=c.text,
                request_id=out.request_id,
                answered=c.answered,
                generator=c.generator,
                citations=citations,
            )
        )


class DocumentController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/documents"
    tags = ("documents",)

    @post("/", sync_to_thread=True, before_request=strict_body(DocumentIn))
    def put_document(
        self,
        request: AuthedRequest,
        data: JSONBody[DocumentIn],
        documents: NamedDependency[DocumentService],
        settings: NamedDependency[Settings],
    ) -> Response[DocumentOut]:
        """Ingest (or re-ingest) a document: 201 when a new version was indexed, 200 when unchanged.

        Updating needs read and write on the document as it exists; an id the caller may not read
        answers 404, exactly like a DELETE of an absent id.
        """
        ctx = _context(request)
        documents.spend(ctx, "ingest", "document.put", data.id)
        result = documents.put(ctx, _submission(data, settings.max_document_bytes))
        if result.status == "quarantined":  # accepted for review; never searchable until approved
            return Response(quarantined_out(result), status_code=202)
        body = DocumentOut(id=result.document_id, version=result.version, status=result.status)
        return Response(body, status_code=201 if result.created else 200)

    @get("/{document_id:path}", sync_to_thread=True)
    def get_document(
        self, request: AuthedRequest, document_id: FromPath[str], documents: NamedDependency[DocumentService]
    ) -> DocumentInfoOut:
        ctx = _context(request)
        documents.spend(ctx, "read", "document.get", document_id.lstrip("/"))
        row = documents.get(ctx, document_id.lstrip("/"))
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
            pii=dict((row.screening or {}).get("pii", {})),
        )

    @delete("/{document_id:path}", sync_to_thread=True, status_code=200)
    def delete_document(
        self, request: AuthedRequest, document_id: FromPath[str], documents: NamedDependency[DocumentService]
    ) -> DocumentOut:
        ctx = _context(request)
        documents.spend(ctx, "delete", "document.delete", document_id.lstrip("/"))
        row = documents.delete(ctx, document_id.lstrip("/"))
        return DocumentOut(id=row.document_id, version=row.version, status="deleted")


def quarantined_out(result: IngestResult) -> DocumentOut:
    reasons = [
        ScreeningReasonOut(
            detector=str(f.get("detector", "")), score=float(f.get("score", 0.0)),
            labels=[str(x) for x in f.get("labels", [])], evidence=[str(x) for x in f.get("evidence", [])],
        )
        for f in result.findings
    ]  # fmt: skip
    return DocumentOut(
        id=result.document_id, version=result.version, status="quarantined", reasons=reasons,
        quarantine_id=result.quarantine_id,
    )  # fmt: skip


def _context(request: AuthedRequest) -> Context:
    return Context(principal=request.user, request_id=request_id_var.get())


def _submission(data: DocumentIn, max_bytes: int) -> Submission:
    """Transport decoding only (base64, timestamps); parsing belongs to the ingest flow."""
    if (data.text is None) == (data.content_base64 is None):
        raise InvalidRequest("give exactly one of 'text' or 'content_base64' (with 'mime_type')")
    content = None
    if data.content_base64 is not None:
        if data.mime_type is None:
            raise InvalidRequest("'content_base64' needs 'mime_type'")
        if len(data.content_base64) > max_bytes * 4 // 3 + 4:
            raise InvalidRequest("document too large")
        try:
            content = base64.b64decode(data.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("'content_base64' is not valid base64") from None
    updated = None
    if data.updated_at:
        try:
            updated = datetime.fromisoformat(data.updated_at)
        except ValueError:
            raise InvalidRequest("'updated_at' must be an ISO 8601 timestamp") from None
    return Submission(
        document_id=data.id,
        collection=data.collection,
        title=data.title,
        text=data.text,
        content=content,
        mime_type=data.mime_type or "text/plain",
        allow=tuple(data.acl.allow),
        deny=tuple(data.acl.deny),
        labels=tuple(data.labels),
        source_uri=data.source_uri,
        updated_at=updated,
    )


def document_ask_stream(openapi: OpenAPI) -> None:
    """``/v1/ask`` with ``stream: true`` answers server-sent events: document the second media type."""
    item = (openapi.paths or {}).get("/v1/ask")
    operation = item.post if item is not None else None
    if operation is None or not operation.responses:
        return
    response = operation.responses.get("200")
    if isinstance(response, OpenAPIResponse) and response.content:
        events = Schema(
            type=OpenAPIType.OBJECT,
            description="One server-sent event: delta pieces, then one done (citations) or error event",
            properties={
                "event": Schema(type=OpenAPIType.STRING, enum=["delta", "done", "error"]),
                "data": Schema(type=OpenAPIType.STRING, description="JSON: {text} | AskOut | problem"),
            },
            required=["data"],
        )
        response.content = {**response.content, "text/event-stream": OpenAPIMediaType(schema=events)}
