"""The SQL document registry: one row per (tenant, document id), its version and what is searchable."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.errors import ServiceUnavailable
from gateway.ingest.documents import DocumentInput
from gateway.ingest.models import DocumentRow

log = logging.getLogger("gateway.ingest")


class DocumentRegistry:
    """Reads and writes ``documents`` rows; any database failure is ``ServiceUnavailable``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count_indexed(self, tenant: str | None = None) -> int:
        with Session(self.engine) as s:
            stmt = select(DocumentRow.id).where(DocumentRow.status == "indexed")
            if tenant is not None:
                stmt = stmt.where(DocumentRow.tenant == tenant)
            return len(s.execute(stmt).all())

    def get(self, tenant: str, document_id: str) -> DocumentRow | None:
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                return s.execute(
                    select(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.document_id == document_id)
                ).scalar_one_or_none()
        except SQLAlchemyError as exc:
            log.error("document registry unavailable", extra={"exc_type": type(exc).__name__})
            raise ServiceUnavailable("document registry unavailable") from None

    def record(self, tenant: str, doc: DocumentInput, digest: str, version: int, status: str, chunks: int) -> None:
        values: dict[str, Any] = {
            "version": version,
            "content_hash": digest,
            "title": doc.title,
            "collection": doc.collection,
            "acl": {"allow": sorted(set(doc.allow)), "deny": sorted(set(doc.deny))},
            "labels": sorted(set(doc.labels)),
            "source_uri": doc.source_uri,
            "mime_type": doc.mime_type,
            "status": status,
            "chunk_count": chunks,
            "updated_at": doc.updated_at,
        }
        try:
            with Session(self.engine) as s, s.begin():
                row = s.execute(
                    select(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.document_id == doc.document_id)
                ).scalar_one_or_none()
                if row is None:
                    s.add(DocumentRow(tenant=tenant, document_id=doc.document_id, **values))
                else:
                    for key, value in values.items():
                        setattr(row, key, value)
        except SQLAlchemyError as exc:
            log.error("document registry write failed", extra={"exc_type": type(exc).__name__})
            raise ServiceUnavailable("document registry unavailable") from None

    def set_status(self, tenant: str, document_id: str, status: str, chunks: int) -> None:
        try:
            with Session(self.engine) as s, s.begin():
                row = s.execute(
                    select(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.document_id == document_id)
                ).scalar_one()
                row.status = status
                row.chunk_count = chunks
        except SQLAlchemyError as exc:
            log.error("document registry write failed", extra={"exc_type": type(exc).__name__})
            raise ServiceUnavailable("document registry unavailable") from None
