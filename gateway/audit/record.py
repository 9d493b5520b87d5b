"""What one audited event says, before it gets its sequence number and hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.auth.principal import Principal

AuditKind = Literal["ask", "search", "admin", "ingest", "delete", "read"]
"""``read``: reading the audit trail or a document record (refusals and audit reads are audited)."""
AuditStatus = Literal["answered", "no_answer", "refused", "failed", "ok", "pending"]
"""``pending``: the intent row of an index write, written before the write; its outcome row
(``ok`` or ``failed``) follows. An intent without an outcome marks a write that was interrupted."""


@dataclass(frozen=True, slots=True)
class RetrievedRef:
    """A chunk that was retrieved for an answer, as it was at that moment."""

    chunk_id: str
    document_id: str
    version: int
    score: float


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit trail (the chain fields are added by the audit log)."""

    request_id: str
    kind: AuditKind
    status: AuditStatus
    tenant: str
    subject: str
    groups: tuple[str, ...]
    policy_version: int
    occurred_at: datetime
    action: str = ""
    """For admin events: what was done (``policy.add``, ``document.delete``...)."""
    question: str | None = None
    answer: str | None = None
    citations: tuple[dict[str, Any], ...] = ()
    retrieved: tuple[RetrievedRef, ...] = ()
    generator: str | None = None
    guards: dict[str, Any] = field(default_factory=dict)
    latencies_ms: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        principal: Principal,
        *,
        request_id: str,
        kind: AuditKind,
        status: AuditStatus,
        policy_version: int,
        tenant: str | None = None,
        **fields: Any,
    ) -> AuditRecord:
        """A record about ``principal``'s request, stamped now; ``fields`` fill in the rest.

        ``tenant`` (default: the principal's) is the tenant the row belongs to: the tenant a change
        or a refused attempt was *about*, so that tenant's own auditors see it.
        """
        return cls(
            request_id=request_id,
            kind=kind,
            status=status,
            tenant=principal.tenant if tenant is None else tenant,
            subject=principal.subject,
            groups=tuple(sorted(principal.groups)),
            policy_version=policy_version,
            occurred_at=datetime.now(UTC),
            **fields,
        )
