"""``/v1/admin/finetune``: datasets, adapters and the active adapter of a tenant (``system:models`` admin).

Every route acts in one tenant (``?tenant=``, default the caller's) and is audited once: the list
reads as ``ok`` rows, an activation or rollback with its change in one transaction, a refusal
(no right, absent adapter, gates not passed) as one ``refused`` row.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from gateway.admin.finetune import FinetuneAdmin
from gateway.admin.scope import AdminScope
from gateway.api.body import strict_body
from gateway.api.security import Guard, authenticate, query_tenant, requires
from gateway.finetune.models import AdapterRow, DatasetRow


class ActivateIn(msgspec.Struct, forbid_unknown_fields=True):
    version: int | None = None
    """The version to serve (default: the newest of that name)."""


def _guard(action: str) -> list[Guard]:
    return [requires("system:models", "admin", audit_action=f"finetune.{action}", tenant_of=query_tenant())]


def adapter_out(row: AdapterRow, active_id: int | None = None) -> dict[str, Any]:
    """An adapter as the API shows it: no path on disk, no canaries."""
    return {
        "id": row.id, "name": row.name, "version": row.version, "status": row.status, "dataset": row.dataset_id,
        "base": row.params.get("base_name", ""), "params": row.params, "metrics": row.metrics,
        "gates": row.gates, "created_at": row.created_at.isoformat() if row.created_at else None,
        "active": active_id == row.id,
    }  # fmt: skip


def dataset_out(row: DatasetRow) -> dict[str, Any]:
    return {
        "id": row.id, "sources": row.sources, "scrub_report": row.scrub_report, "screen_report": row.screen_report,
        "split": row.split, "created_by": row.created_by,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }  # fmt: skip


class FinetuneController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/admin/finetune"
    tags = ("admin",)

    @get("/datasets", sync_to_thread=True, guards=_guard("datasets"))
    def list_datasets(self, admin: NamedDependency[AdminScope], finetune: NamedDependency[FinetuneAdmin]) -> Any:
        """The tenant's datasets with their lineage (sources, hashes, scrub and screen reports)."""
        return {"tenant": admin.tenant, "datasets": [dataset_out(r) for r in finetune.datasets(admin)]}

    @get("/adapters", sync_to_thread=True, guards=_guard("adapters"))
    def list_adapters(self, admin: NamedDependency[AdminScope], finetune: NamedDependency[FinetuneAdmin]) -> Any:
        """The tenant's adapters, their gate results, and which one is active."""
        rows, active = finetune.adapters(admin)
        return {"tenant": admin.tenant, "active": active, "adapters": [adapter_out(r, active) for r in rows]}

    @post(
        "/adapters/{name:str}/activate", sync_to_thread=True, status_code=200, guards=_guard("activate"),
        before_request=strict_body(ActivateIn),
    )  # fmt: skip
    def activate(
        self,
        admin: NamedDependency[AdminScope],
        finetune: NamedDependency[FinetuneAdmin],
        name: FromPath[str],
        data: JSONBody[ActivateIn],
    ) -> Any:
        """Serve this adapter in the tenant; refused (409) unless its safety gates passed."""
        row = finetune.activate(admin, name, data.version)
        return {"tenant": admin.tenant, "active": adapter_out(row, row.id)}

    @post("/rollback", sync_to_thread=True, status_code=200, guards=_guard("rollback"))
    def rollback(self, admin: NamedDependency[AdminScope], finetune: NamedDependency[FinetuneAdmin]) -> Any:
        """Return the tenant to the adapter it served before the current one (or the base model)."""
        moved_from, moved_to = finetune.rollback(admin)
        return {"tenant": admin.tenant, "from": moved_from, "to": moved_to}
