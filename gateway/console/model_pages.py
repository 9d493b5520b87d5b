"""``/console/models/``: the fine-tuning registry's datasets and adapters, activation and rollback."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from gateway.admin.scope import AdminScope
from gateway.api.security import admin_scope, requires
from gateway.console.frame import AnyRequest, Form, in_thread, int_or_none, render
from gateway.console.models import ModelAdmin, model_admin
from gateway.console.security import csrf_guard
from gateway.errors import NotFound

MODELS_GUARD = requires("system:models", "admin", audit_action="finetune.adapters")


class ModelPages(Controller):
    """Behind the console's session guard; the registry's own right (``system:models`` admin, as for
    ``/v1/admin/finetune``) is checked once a registry is configured."""

    path = "/console/models"
    include_in_schema = False

    @get("/")
    async def models(self, request: AnyRequest) -> Template:
        service = model_admin(request)
        if service is None:
            return render(request, "models.html", catalog=None)
        await MODELS_GUARD(request, request.route_handler)
        admin = admin_scope(request)
        datasets = await in_thread(service.datasets, admin)
        adapters, active = await in_thread(service.adapters, admin)
        shown = [{**_fields(a), "gate_list": _gates(getattr(a, "gates", {}) or {})} for a in adapters]
        return render(request, "models.html", catalog={"datasets": datasets, "adapters": shown, "active": active})

    @post("/activate", guards=[csrf_guard, requires("system:models", "admin", audit_action="finetune.activate")])
    async def activate(self, request: AnyRequest, admin: NamedDependency[AdminScope], data: Form) -> Redirect:
        service = _configured(request)
        version = int_or_none(data.get("version"))
        await in_thread(service.activate, admin, data.get("name", ""), version)
        return Redirect("/console/models?done=activated", status_code=303)

    @post("/rollback", guards=[csrf_guard, requires("system:models", "admin", audit_action="finetune.rollback")])
    async def rollback(self, request: AnyRequest, admin: NamedDependency[AdminScope]) -> Redirect:
        await in_thread(_configured(request).rollback, admin)
        return Redirect("/console/models?done=rolled_back", status_code=303)


def _fields(row: Any) -> dict[str, Any]:
    names = ("id", "name", "version", "base", "dataset_id", "status")
    return {name: getattr(row, name, None) for name in names}


def _gates(gates: dict[str, Any]) -> list[dict[str, Any]]:
    """Each gate's name and whether it passed (a bool, or a mapping with ``passed``)."""
    out = []
    for name, value in sorted(gates.items()):
        passed = value.get("passed") if isinstance(value, dict) else value
        if isinstance(passed, bool):
            out.append({"name": name, "passed": passed})
    return out


def _configured(request: AnyRequest) -> ModelAdmin:
    service = model_admin(request)
    if service is None:
        raise NotFound("the fine-tuning registry is not configured")
    return service
