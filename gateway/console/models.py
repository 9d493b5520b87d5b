"""What the Models page needs from the fine-tuning registry (built on another branch:
``gateway/finetune/registry.py`` and its admin service ``gateway/admin/finetune.py``).

The console depends on this protocol only, which that service (``FinetuneAdmin``) satisfies as it
is: tenant-scoped by the ``AdminScope``, every call audited by the service. Until ``create_app``
puts a factory in the application state (``model_admin_factory(services) -> ModelAdmin``), the page
says that the fine-tuning registry is not configured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gateway.admin.scope import AdminScope
from gateway.api.security import Connection, services_of

MODEL_ADMIN_FACTORY = "model_admin_factory"
"""The application-state key of the factory (one line in ``create_app`` once the registry is merged)."""


class ModelAdmin(Protocol):
    """Datasets, adapters (with ``name``, ``version``, ``base``, ``dataset_id``, ``gates``,
    ``status``) and a tenant's active adapter; activation and rollback."""

    def datasets(self, scope: AdminScope) -> Sequence[Any]: ...

    def adapters(self, scope: AdminScope) -> tuple[Sequence[Any], int | None]: ...

    def activate(self, scope: AdminScope, name: str, version: int | None) -> Any: ...

    def rollback(self, scope: AdminScope) -> tuple[int | None, int | None]: ...


def model_admin(connection: Connection) -> ModelAdmin | None:
    """The configured registry's admin service for this request, or ``None``."""
    factory: Callable[[Any], ModelAdmin] | None = connection.app.state.get(MODEL_ADMIN_FACTORY)
    return factory(services_of(connection)) if factory is not None else None
