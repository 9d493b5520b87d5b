"""The scope of one administrative request: who acts, in which tenant, on which policy view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.audit.record import AuditKind, AuditRecord, AuditStatus
from gateway.auth.principal import Principal
from gateway.authz.view import PolicyView


@dataclass(frozen=True)
class AdminScope:
    """Set by the route guard once the actor was found to hold the route's right in ``tenant``."""

    actor: Principal
    """The authenticated caller, as its token says (its own tenant)."""
    tenant: str
    """The tenant acted in: the actor's own, another one (platform administrators only) or ``*``."""
    acting: Principal
    """The actor's principal in ``tenant``: whose rights decide, there."""
    view: PolicyView
    """The one policy view of this request."""
    request_id: str

    def record(
        self, *, kind: AuditKind, status: AuditStatus, action: str, details: Mapping[str, Any] | None = None
    ) -> AuditRecord:
        """A row in the tenant acted in (its own auditors see it), naming the actor's tenant."""
        return AuditRecord.of(
            self.actor,
            tenant=self.tenant,
            request_id=self.request_id,
            kind=kind,
            status=status,
            policy_version=self.view.version,
            action=action,
            details={"actor_tenant": self.actor.tenant, **(details or {})},
        )
