"""The audit rows of document operations: one context per call, one helper per kind of row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from gateway.audit.log import AuditLog, AuditTransaction
from gateway.audit.record import AuditKind, AuditRecord, AuditStatus
from gateway.auth.principal import Principal
from gateway.authz.view import PolicyView
from gateway.errors import AuditUnavailable, GatewayError


@dataclass(frozen=True)
class Context:
    """Who acts, for which request, and what every audit row of the call should also say."""

    principal: Principal
    request_id: str
    details: Mapping[str, Any] = field(default_factory=dict)
    """E.g. the operator of a CLI run (``{"os_account": ..., "operator": ...}``)."""


@dataclass(frozen=True)
class DocumentTrail:
    """Writes the rows; callers decide when (always before the answer leaves)."""

    audit: AuditLog

    def refuse(
        self, ctx: Context, view: PolicyView, kind: AuditKind, action: str, document_id: str, reason: str
    ) -> None:
        """One ``refused`` row, written before the refusal is answered (a failure here is a 503)."""
        details = {"document_id": document_id[:256], "reason": reason}
        self.audit.append(self.record(ctx, view, kind, "refused", action, details))

    def failure(
        self,
        ctx: Context,
        view: PolicyView,
        kind: AuditKind,
        action: str,
        details: list[dict[str, Any]],
        exc: BaseException,
        change: Callable[[AuditTransaction], None] | None = None,
    ) -> None:
        """``failed`` outcome rows (and ``change``) in one transaction; best effort: the intent row
        already stands, and the caller answers with the original error either way."""
        error = exc.code if isinstance(exc, GatewayError) else "internal_error"
        with suppress(AuditUnavailable), self.audit.transaction() as tx:
            if change is not None:
                change(tx)
            for item in details:
                tx.append(self.record(ctx, view, kind, "failed", action, item | {"error": error}))

    @staticmethod
    def record(
        ctx: Context,
        view: PolicyView,
        kind: AuditKind,
        status: AuditStatus,
        action: str,
        details: Mapping[str, Any],
        guards: dict[str, Any] | None = None,
    ) -> AuditRecord:
        return AuditRecord.of(
            ctx.principal,
            request_id=ctx.request_id,
            kind=kind,
            status=status,
            policy_version=view.version,
            action=action,
            details={**ctx.details, **details},
            guards=guards or {},
        )
