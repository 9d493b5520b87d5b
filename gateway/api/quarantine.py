"""``/v1/admin/quarantine``: review of quarantined documents (admins of the tenant: ``system:documents`` admin)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, Parameter

from gateway.admin.quarantine import QuarantineReview
from gateway.admin.scope import AdminScope
from gateway.api.body import strict_body
from gateway.api.schemas import DocumentOut, QuarantineDecisionIn, QuarantineDetailOut, QuarantineItemOut
from gateway.api.security import Guard, authenticate, query_tenant, requires
from gateway.ingest.quarantine import QuarantineRow

EXCERPT_CHARS = 2000
QuarantineId = Annotated[int, Parameter(ge=1, le=2**63 - 1)]
"""A row id: within the databases' 64-bit integers (a larger one was a 500 on SQLite)."""


def _item(row: QuarantineRow) -> QuarantineItemOut:
    return QuarantineItemOut(
        id=row.id, document_id=row.document_id, collection=row.collection, status=row.status,
        detectors=list(row.detectors), submitted_by=row.submitted_by, created_at=row.created_at.isoformat(),
        decided_by=row.decided_by, decided_at=row.decided_at.isoformat() if row.decided_at else None,
    )  # fmt: skip


def _guard(action: str) -> list[Guard]:
    return [requires("system:documents", "admin", audit_action=f"quarantine.{action}", tenant_of=query_tenant())]


class QuarantineController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/admin/quarantine"
    tags = ("admin",)

    @get("/", sync_to_thread=True, guards=_guard("list"))
    def list_quarantine(
        self,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        collection: FromQuery[str | None] = None,
        detector: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
    ) -> list[QuarantineItemOut]:
        """Quarantined documents of the tenant, newest first; filter by collection, detector, status."""
        return [_item(r) for r in review.list(admin, collection=collection, detector=detector, status=status)]

    @get("/{quarantine_id:int}", sync_to_thread=True, guards=_guard("get"))
    def get_quarantine(
        self,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        quarantine_id: QuarantineId,
    ) -> QuarantineDetailOut:
        """The evidence: each detector's score, threshold, labels and excerpts, and the submitted text."""
        row = review.get(admin, quarantine_id)
        return QuarantineDetailOut(
            item=_item(row), reasons=list(row.reasons), title=str(row.submission.get("title", "")),
            text_excerpt=str(row.submission.get("text", ""))[:EXCERPT_CHARS], note=row.note,
        )  # fmt: skip

    @post(
        "/{quarantine_id:int}/approve", sync_to_thread=True, status_code=200, guards=_guard("approve"),
        before_request=strict_body(QuarantineDecisionIn),
    )  # fmt: skip
    def approve(
        self,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        quarantine_id: QuarantineId,
        data: JSONBody[QuarantineDecisionIn],
    ) -> DocumentOut:
        """Index the document exactly as submitted."""
        result = review.approve(admin, quarantine_id, data.note)
        return DocumentOut(id=result.document_id, version=result.version, status=result.status)

    @post(
        "/{quarantine_id:int}/reject", sync_to_thread=True, status_code=200, guards=_guard("reject"),
        before_request=strict_body(QuarantineDecisionIn),
    )  # fmt: skip
    def reject(
        self,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        quarantine_id: QuarantineId,
        data: JSONBody[QuarantineDecisionIn],
    ) -> QuarantineItemOut:
        """Keep the record as rejected; nothing is indexed."""
        return _item(review.reject(admin, quarantine_id, data.note))
