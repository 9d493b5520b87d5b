"""Adapter administration: list datasets and adapters, activate or roll back a tenant's adapter; audited.

Everything happens in the tenant of the request's ``AdminScope``: another tenant's adapter is the
404 of an absent one. Activation and its audit row commit in one transaction; a refusal (gates not
passed, nothing to roll back) writes one ``refused`` row and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.admin.scope import AdminScope
from gateway.audit.log import AuditLog
from gateway.errors import Conflict, NotFound
from gateway.finetune.models import AdapterRow, DatasetRow
from gateway.finetune.registry import AdapterRegistry, activation_refusal


@dataclass
class FinetuneAdmin:
    registry: AdapterRegistry
    audit: AuditLog

    def datasets(self, scope: AdminScope) -> list[DatasetRow]:
        rows = self.registry.datasets(scope.tenant)
        self._ok(scope, "finetune.datasets", {"count": len(rows)})
        return rows

    def adapters(self, scope: AdminScope) -> tuple[list[AdapterRow], int | None]:
        """The tenant's adapters and the id of the active one."""
        rows = self.registry.adapters(scope.tenant)
        active = self.registry.active_adapter(scope.tenant)
        self._ok(scope, "finetune.adapters", {"count": len(rows), "active": active.id if active else None})
        return rows, active.id if active else None

    def activate(self, scope: AdminScope, name: str, version: int | None) -> AdapterRow:
        """Serve ``name`` (newest version unless given) in the scope's tenant, if its gates passed."""
        action = "finetune.activate"
        adapter = self.registry.adapter(name, version, tenant=scope.tenant)
        if adapter is None:
            self._refused(scope, action, {"adapter": name, "version": version, "reason": "absent"})
            raise NotFound("no such adapter")
        details: dict[str, Any] = {"adapter": name, "version": adapter.version, "adapter_id": adapter.id}
        refusal = activation_refusal(adapter, scope.tenant)
        if refusal is not None:
            self._refused(scope, action, {**details, "reason": refusal.reason, "status": adapter.status})
            raise Conflict(refusal.message)
        with self.audit.transaction() as tx:
            previous = self.registry.activate(tx.connection, scope.tenant, adapter, scope.actor.subject)
            tx.append(scope.record(kind="admin", status="ok", action=action, details={**details, "previous": previous}))
        return adapter

    def rollback(self, scope: AdminScope) -> tuple[int | None, int | None]:
        """Return the tenant to the adapter it served before; (from, to) adapter ids."""
        action = "finetune.rollback"
        try:
            with self.audit.transaction() as tx:
                moved = self.registry.rollback(tx.connection, scope.tenant, scope.actor.subject)
                tx.append(scope.record(kind="admin", status="ok", action=action, details=_moved(moved)))
        except NotFound:
            self._refused(scope, action, {"reason": "nothing_active"})
            raise
        return moved

    def _ok(self, scope: AdminScope, action: str, details: dict[str, Any]) -> None:
        self.audit.append(scope.record(kind="admin", status="ok", action=action, details=details))

    def _refused(self, scope: AdminScope, action: str, details: dict[str, Any]) -> None:
        self.audit.append(scope.record(kind="admin", status="refused", action=action, details=details))


def _moved(moved: tuple[int | None, int | None]) -> dict[str, Any]:
    return {"from_adapter_id": moved[0], "to_adapter_id": moved[1]}
