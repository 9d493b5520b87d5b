"""Reading the audit trail: metadata for ``system:audit`` readers, content only with
``system:audit-content``; every read leaves its own row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.admin.scope import AdminScope
from gateway.audit.export import ExportFilter
from gateway.audit.log import AuditLog
from gateway.audit.models import AUDIT_TABLE
from gateway.audit.verify import VerifyResult
from gateway.audit.visibility import visible_row


class AuditTrail:
    """The route guard has checked ``system:audit`` read in the scope's tenant."""

    def __init__(self, audit: AuditLog, verify_chain: Callable[[], VerifyResult] | None = None) -> None:
        self._audit = audit
        self._verify_chain = verify_chain or audit.verify
        """The chain check: against the signed anchors when the gateway wires them in (deps)."""

    def search(
        self,
        scope: AdminScope,
        *,
        subject: str | None,
        kind: str | None,
        limit: int,
        before: int | None,
        more: ExportFilter | None = None,
    ) -> list[dict[str, Any]]:
        """Newest rows of the scope's tenant, each as the reader may see it; the read is audited first.

        ``more``: further filters (status, collection, time range), applied in SQL.
        """
        content = scope.view.decide(scope.acting, "system:audit-content", "read").allowed
        where = _conditions(more) if more is not None else []
        rows = self._audit.search(
            tenant=scope.tenant, subject=subject, kind=kind, limit=limit, before_sequence=before, where=where
        )
        filters = {"subject": subject, "kind": kind, "limit": limit, "before": before}
        if more is not None:
            filters |= {k: v for k, v in more.to_json().items() if v is not None and k != "tenant"}
        details = {"filters": filters, "rows": len(rows), "content": content}
        self._audit.append(scope.record(kind="read", status="ok", action="audit.read", details=details))
        return [visible_row(row, content=content) for row in rows]

    def verify(self, scope: AdminScope) -> VerifyResult:
        """Walk the chain; the check itself is audited (before its result is returned)."""
        result = self._verify_chain()
        details = {"ok": result.ok, "rows_checked": result.rows_checked}
        self._audit.append(scope.record(kind="read", status="ok", action="audit.verify", details=details))
        return result


def _conditions(flt: ExportFilter) -> list[Any]:
    """The filter's row conditions plus its time range (``start <= occurred_at < end``)."""
    out: list[Any] = list(flt.conditions())
    if flt.start is not None:
        out.append(AUDIT_TABLE.c.occurred_at >= flt.start)
    if flt.end is not None:
        out.append(AUDIT_TABLE.c.occurred_at < flt.end)
    return out
