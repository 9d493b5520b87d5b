"""Audit exports over HTTP: tenant-scoped, content only for audit-content readers, audited, signed.

The route guard has checked ``system:audit`` read in the scope's tenant. The export is of that
tenant's rows only. Whether question and answer text is included is the same decision the audit
search makes (``system:audit-content`` read); without it the rows are shown as
:func:`gateway.audit.visibility.visible_row` shows them, plus their ``content_hash`` (still
verifiable). The export leaves exactly one audit row, written with the export's record (in one
transaction) *before* the first byte is sent; its signed manifest is stored once the last byte
was, and can then be fetched by readers of the same tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.admin.scope import AdminScope
from gateway.audit.export import Exporter, ExportFilter
from gateway.audit.formats import FileFormat
from gateway.audit.log import AuditLog
from gateway.audit.models import EXPORT_TABLE as X
from gateway.errors import AuditUnavailable

MEDIA_TYPES: dict[str, str] = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


class AuditExports:
    """Starts exports and serves their manifests."""

    def __init__(self, audit: AuditLog, exporter: Exporter, engine: Engine) -> None:
        self._audit, self._exporter, self._engine = audit, exporter, engine

    def start(self, scope: AdminScope, flt: ExportFilter, fmt: FileFormat) -> tuple[str, bool, Iterator[bytes]]:
        """Record and audit the export, then return its id, whether it has content, and its body.

        Raises:
            AuditUnavailable: the export could not be recorded (nothing is sent).
        """
        content = scope.view.decide(scope.acting, "system:audit-content", "read").allowed
        export_id = scope.request_id
        flt = _in_tenant(flt, scope.tenant)
        details = {"export_id": export_id, "format": fmt, "content": content, "filters": flt.to_json()}
        with self._audit.transaction() as tx:
            tx.connection.execute(
                insert(X),
                {
                    "export_id": export_id,
                    "tenant": scope.tenant,
                    "requested_by": scope.actor.subject,
                    "created_at": datetime.now(UTC),
                },
            )
            tx.append(scope.record(kind="read", status="ok", action="audit.export", details=details))
        stream = self._exporter.stream(flt, fmt, name=f"audit-{export_id}.{fmt}", metadata_only=not content)
        return export_id, content, self._body(export_id, stream)

    def _body(self, export_id: str, stream: Any) -> Iterator[bytes]:
        yield from stream
        try:
            with self._engine.begin() as conn:
                conn.execute(update(X).where(X.c.export_id == export_id).values(manifest=stream.manifest))
        except SQLAlchemyError as exc:  # the body is sent; without a stored manifest it cannot be verified
            raise AuditUnavailable() from exc

    def manifest(self, scope: AdminScope, export_id: str) -> dict[str, Any] | None:
        """The manifest of a finished export of the scope's tenant (None: unknown, other tenant, unfinished).

        Raises:
            AuditUnavailable: the database could not be read.
        """
        query = select(X.c.manifest).where(X.c.export_id == export_id, X.c.tenant == scope.tenant)
        try:
            with self._engine.connect() as conn:
                found = conn.execute(query).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise AuditUnavailable() from exc
        return dict(found) if found else None


def _in_tenant(flt: ExportFilter, tenant: str) -> ExportFilter:
    """``flt`` restricted to ``tenant``: an export never leaves the tenant the guard checked."""
    return ExportFilter(
        start=flt.start,
        end=flt.end,
        tenant=tenant,
        subject=flt.subject,
        status=flt.status,
        kind=flt.kind,
        collection=flt.collection,
    )
