"""Quarantine: suspect submissions kept for review, never indexed and never served to anyone.

A quarantined document lives only here (and as a ``quarantined`` registry row for a new id): no
chunk of it reaches the index, so no search, ask or document read can return it, its author's
included. An administrator of the tenant sees the reasons and evidence, then approves (the
document is indexed exactly as submitted) or rejects it (the record stays for the audit trail).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from gateway.db import Base
from gateway.errors import ServiceUnavailable
from gateway.ingest.documents import DocumentInput

T = TypeVar("T")
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


class QuarantineRow(Base):
    """One quarantined submission and what became of it."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    document_id: Mapped[str] = mapped_column(String(512), nullable=False)
    collection: Mapped[str] = mapped_column(String(255), nullable=False)
    submitted_by: Mapped[str] = mapped_column(String(512), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    submission: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """The document as submitted (title, text, ACL, labels, source): what approval indexes."""
    detectors: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    """Names of the detectors that quarantined it (the list filter)."""
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    """Detector, version, score, threshold, labels and evidence (hidden text made visible, decoded
    payloads, the trusted passage a planted answer contradicts)."""
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    decided_by: Mapped[str | None] = mapped_column(String(512))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


Q: Table = QuarantineRow.__table__  # type: ignore[assignment]  # the mapped class's Core table


def submission_of(doc: DocumentInput) -> dict[str, Any]:
    return {
        "title": doc.title, "text": doc.text, "allow": list(doc.allow), "deny": list(doc.deny),
        "labels": list(doc.labels), "source_uri": doc.source_uri, "mime_type": doc.mime_type,
        "updated_at": doc.updated_at.isoformat() if doc.updated_at else None,
    }  # fmt: skip


def document_of(row: QuarantineRow) -> DocumentInput:
    """The submission exactly as it was quarantined."""
    s = row.submission
    return DocumentInput(
        document_id=row.document_id, title=s["title"], text=s["text"], collection=row.collection,
        allow=tuple(s["allow"]), deny=tuple(s["deny"]), labels=tuple(s["labels"]), source_uri=s["source_uri"],
        mime_type=s["mime_type"], updated_at=datetime.fromisoformat(s["updated_at"]) if s["updated_at"] else None,
    )  # fmt: skip


class QuarantineStore:
    """Reads and writes ``quarantine`` rows; any database failure is ``ServiceUnavailable``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def add(
        conn: Connection, *, tenant: str, doc: DocumentInput, submitted_by: str, request_id: str,
        reasons: Sequence[Mapping[str, Any]],
    ) -> int:  # fmt: skip
        """Keep a submission for review, on the caller's transaction (with its audit row)."""
        detectors = sorted({str(r.get("detector", "")) for r in reasons} - {""})
        values = {
            "tenant": tenant, "document_id": doc.document_id, "collection": doc.collection,
            "submitted_by": submitted_by, "request_id": request_id, "submission": submission_of(doc),
            "detectors": detectors, "reasons": [dict(r) for r in reasons], "status": PENDING,
        }  # fmt: skip
        return int(conn.execute(insert(Q).values(**values).returning(Q.c.id)).scalar_one())

    def list(
        self, tenant: str, *, collection: str | None = None, detector: str | None = None,
        status: str | None = None, limit: int = 100,
    ) -> list[QuarantineRow]:  # fmt: skip
        stmt = select(QuarantineRow).where(QuarantineRow.tenant == tenant)
        if collection:
            stmt = stmt.where(QuarantineRow.collection == collection)
        if status:
            stmt = stmt.where(QuarantineRow.status == status)
        stmt = stmt.order_by(QuarantineRow.id.desc())
        rows = self._query(lambda s: list(s.execute(stmt).scalars()))
        # JSON containment differs between SQLite and PostgreSQL: the detector filter runs here.
        return [r for r in rows if detector is None or detector in r.detectors][:limit]

    def get(self, tenant: str, quarantine_id: int) -> QuarantineRow | None:
        stmt = select(QuarantineRow).where(QuarantineRow.tenant == tenant, QuarantineRow.id == quarantine_id)
        return self._query(lambda s: s.execute(stmt).scalar_one_or_none())

    @staticmethod
    def decide(conn: Connection, tenant: str, quarantine_id: int, status: str, by: str, note: str | None) -> bool:
        """Approve or reject a pending record; False when it was decided meanwhile."""
        stmt = (
            update(Q)
            .where(Q.c.tenant == tenant, Q.c.id == quarantine_id, Q.c.status == PENDING)
            .values(status=status, decided_by=by, decided_at=datetime.now(UTC), note=note)
        )
        return bool(conn.execute(stmt).rowcount)

    def _query(self, run: Callable[[Session], T]) -> T:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                return run(session)
        except SQLAlchemyError:
            raise ServiceUnavailable("quarantine store unavailable") from None
