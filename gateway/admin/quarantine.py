"""Quarantine review: list, inspect, approve (index as submitted) or reject; every step audited.

Everything happens in the tenant of the request's ``AdminScope`` (the route guard checked the right
there): a record of another tenant is the 404 of an absent one. Viewing the evidence is audited
too, since it shows document content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.admin.scope import AdminScope
from gateway.audit.log import AuditLog
from gateway.errors import Conflict, NotFound
from gateway.ingest.documents import IngestResult
from gateway.ingest.flow import IngestFlow
from gateway.ingest.quarantine import APPROVED, PENDING, REJECTED, QuarantineRow, QuarantineStore, document_of
from gateway.ingest.trail import Context


@dataclass
class QuarantineReview:
    store: QuarantineStore
    flow: IngestFlow
    audit: AuditLog

    def list(
        self, scope: AdminScope, *, collection: str | None, detector: str | None, status: str | None
    ) -> list[QuarantineRow]:
        rows = self.store.list(scope.tenant, collection=collection, detector=detector, status=status)
        details = {"collection": collection, "detector": detector, "status": status, "count": len(rows)}
        self.audit.append(scope.record(kind="admin", status="ok", action="quarantine.list", details=details))
        return rows

    def get(self, scope: AdminScope, quarantine_id: int) -> QuarantineRow:
        row = self._row(scope, quarantine_id, "quarantine.get")
        details = {"quarantine_id": quarantine_id, "document_id": row.document_id}
        self.audit.append(scope.record(kind="admin", status="ok", action="quarantine.get", details=details))
        return row

    def approve(self, scope: AdminScope, quarantine_id: int, note: str | None) -> IngestResult:
        """Index the document exactly as submitted, then close the record with its audit row."""
        row = self._pending(scope, quarantine_id, "quarantine.approve")
        ctx = Context(principal=scope.acting, request_id=scope.request_id)
        result = self.flow.put_approved(ctx, scope.view, document_of(row))
        self._decide(scope, row, APPROVED, note, {"version": result.version, "chunks": result.chunk_count})
        return result

    def reject(self, scope: AdminScope, quarantine_id: int, note: str | None) -> QuarantineRow:
        """Keep the record (for the audit trail) as rejected; nothing is indexed."""
        row = self._pending(scope, quarantine_id, "quarantine.reject")
        self._decide(scope, row, REJECTED, note, {})
        return self.store.get(scope.tenant, quarantine_id) or row

    def _decide(
        self, scope: AdminScope, row: QuarantineRow, status: str, note: str | None, extra: dict[str, Any]
    ) -> None:
        action = f"quarantine.{'approve' if status == APPROVED else 'reject'}"
        details = {"quarantine_id": row.id, "document_id": row.document_id, "collection": row.collection} | extra
        with self.audit.transaction() as tx:
            if not self.store.decide(tx.connection, scope.tenant, row.id, status, scope.actor.subject, note):
                raise Conflict("this quarantine record was decided meanwhile")
            tx.append(scope.record(kind="admin", status="ok", action=action, details=details))

    def _pending(self, scope: AdminScope, quarantine_id: int, action: str) -> QuarantineRow:
        row = self._row(scope, quarantine_id, action)
        if row.status != PENDING:
            details = {"quarantine_id": quarantine_id, "reason": f"already_{row.status}"}
            self.audit.append(scope.record(kind="admin", status="refused", action=action, details=details))
            raise Conflict(f"this quarantine record is already {row.status}")
        return row

    def _row(self, scope: AdminScope, quarantine_id: int, action: str) -> QuarantineRow:
        row = self.store.get(scope.tenant, quarantine_id)
        if row is None:
            details = {"quarantine_id": quarantine_id, "reason": "absent"}
            self.audit.append(scope.record(kind="admin", status="refused", action=action, details=details))
            raise NotFound("no such quarantine record")
        return row
