"""The SQL document registry: one row per (tenant, document id), its versions and what is searchable.

Writes take the caller's connection: each one commits in the same transaction as the audit row
that describes it (``AuditLog.transaction``). Version numbers are assigned by the database itself
(``UPDATE ... SET assigned_version = assigned_version + 1 ... RETURNING``), under the row lock, so
two processes never hand out the same version; a version is committed only forwards
(``WHERE version < :new``), so a slow writer can never roll a document back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.errors import ServiceUnavailable
from gateway.ingest.documents import DocumentInput
from gateway.ingest.models import DocumentRow
from gateway.retrieval.recheck import DocumentState

log = logging.getLogger("gateway.ingest")
T = TypeVar("T")

D: Table = DocumentRow.__table__  # type: ignore[assignment]  # the mapped class's Core table


class DocumentRegistry:
    """Reads and writes ``documents`` rows; any database failure is ``ServiceUnavailable``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads ----------------------------------------------------------------------------------

    def count_indexed(self, tenant: str | None = None) -> int:
        stmt = select(func.count()).select_from(D).where(D.c.status == "indexed")
        if tenant is not None:
            stmt = stmt.where(D.c.tenant == tenant)
        return self._query(lambda s: int(s.scalar(stmt) or 0))

    def interrupted(self, limit: int = 100) -> list[str]:
        """``tenant/id`` of documents whose last write did not complete: a version was assigned and
        never committed (the index write failed, or the process stopped between intent and outcome)."""
        stmt = (
            select(D.c.tenant, D.c.document_id)
            .where(D.c.assigned_version > D.c.version, D.c.status.in_(("pending", "indexed", "deleting")))
            .order_by(D.c.tenant, D.c.document_id)
            .limit(limit)
        )
        return [f"{t}/{d}" for t, d in self._query(lambda s: s.execute(stmt).all())]

    def get(self, tenant: str, document_id: str) -> DocumentRow | None:
        stmt = select(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.document_id == document_id)
        return self._query(lambda s: s.execute(stmt).scalar_one_or_none())

    def states(self, tenant: str, document_ids: Collection[str]) -> Mapping[str, DocumentState]:
        """The current state of each named document (one query): what the re-check compares hits to."""
        if not document_ids:
            return {}
        stmt = select(
            D.c.document_id, D.c.version, D.c.assigned_version, D.c.status, D.c.collection, D.c.acl, D.c.updated_at
        ).where(D.c.tenant == tenant, D.c.document_id.in_(sorted(document_ids)))
        rows = self._query(lambda s: s.execute(stmt).all())
        return {row.document_id: _state(row) for row in rows}

    def _query(self, run: Callable[[Session], T]) -> T:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                return run(session)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    # -- writes, on the caller's transaction -----------------------------------------------------

    def assign_version(self, conn: Connection, tenant: str, doc: DocumentInput) -> int:
        """The next version of the document, assigned in the database; creates a ``pending`` row
        for a new document. Two concurrent callers (any processes) get different numbers."""
        version = self._increment(conn, tenant, doc.document_id)
        if version is not None:
            return version
        try:
            with conn.begin_nested():  # a concurrent insert must not void the caller's transaction
                conn.execute(insert(D).values(tenant=tenant, document_id=doc.document_id, **_pending(doc)))
            return 1
        except IntegrityError:
            version = self._increment(conn, tenant, doc.document_id)
            if version is None:  # pragma: no cover - the row that collided cannot vanish
                raise ServiceUnavailable("document registry unavailable") from None
            return version

    @staticmethod
    def _increment(conn: Connection, tenant: str, document_id: str) -> int | None:
        row = conn.execute(
            update(D)
            .where(D.c.tenant == tenant, D.c.document_id == document_id)
            .values(assigned_version=D.c.assigned_version + 1)
            .returning(D.c.assigned_version)
        ).first()
        return None if row is None else int(row[0])

    @staticmethod
    def commit_version(
        conn: Connection,
        tenant: str,
        doc: DocumentInput,
        *,
        digest: str,
        version: int,
        chunks: int,
        status: str = "indexed",
        screening: Mapping[str, Any] | None = None,
    ) -> bool:
        """Make ``version`` the document's searchable one, with this content and ACL. False when a
        newer version was committed meanwhile (the registry never goes backwards)."""
        values = _described(doc) | {
            "version": version,
            "content_hash": digest,
            "status": status,
            "chunk_count": chunks,
            "screening": dict(screening or {}),
        }
        result = conn.execute(
            update(D)
            .where(D.c.tenant == tenant, D.c.document_id == doc.document_id, D.c.version < version)
            .values(**values)
        )
        return bool(result.rowcount)

    @staticmethod
    def set_status(conn: Connection, tenant: str, document_id: str, status: str, *, chunks: int | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if chunks is not None:
            values["chunk_count"] = chunks
        conn.execute(update(D).where(D.c.tenant == tenant, D.c.document_id == document_id).values(**values))


def _described(doc: DocumentInput) -> dict[str, Any]:
    return {
        "title": doc.title,
        "collection": doc.collection,
        "acl": {"allow": sorted(set(doc.allow)), "deny": sorted(set(doc.deny))},
        "labels": sorted(set(doc.labels)),
        "source_uri": doc.source_uri,
        "mime_type": doc.mime_type,
        "updated_at": doc.updated_at,
    }


def _pending(doc: DocumentInput) -> dict[str, Any]:
    """A new document's row while its first version is written: nothing searchable yet."""
    return _described(doc) | {
        "version": 0,
        "assigned_version": 1,
        "content_hash": "",
        "status": "pending",
        "chunk_count": 0,
        "screening": {},
    }


def _state(row: Any) -> DocumentState:
    acl = row.acl or {}
    return DocumentState(
        document_id=row.document_id,
        version=int(row.version),
        assigned_version=int(row.assigned_version),
        status=str(row.status),
        collection=str(row.collection),
        allow=tuple(acl.get("allow", ())),
        deny=tuple(acl.get("deny", ())),
        updated_at=row.updated_at,
    )


def _unavailable(exc: SQLAlchemyError) -> ServiceUnavailable:
    log.error("document registry unavailable", extra={"exc_type": type(exc).__name__})
    return ServiceUnavailable("document registry unavailable")
