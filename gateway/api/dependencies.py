"""Services for handlers, by injection (Litestar ``Provide``): handlers never reach into app state."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from gateway.admin.audit_exports import AuditExports
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.finetune import FinetuneAdmin
from gateway.admin.policies import PolicyAdmin
from gateway.admin.quarantine import QuarantineReview
from gateway.admin.scope import AdminScope
from gateway.api.security import admin_scope
from gateway.audit.anchored import verify_chain
from gateway.audit.export import Exporter
from gateway.audit.keys import load_keyring
from gateway.audit.verify import VerifyResult
from gateway.deps import Services
from gateway.finetune.registry import AdapterRegistry
from gateway.ingest.quarantine import QuarantineStore
from gateway.ingest.service import DocumentService
from gateway.pipeline import AnswerPipeline
from gateway.settings import Settings


def _services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_settings(state: State) -> Settings:
    return _services(state).settings


def provide_pipeline(state: State) -> AnswerPipeline:
    return _services(state).pipeline


def provide_documents(state: State) -> DocumentService:
    return _services(state).documents


def provide_policy_admin(state: State) -> PolicyAdmin:
    services = _services(state)
    return PolicyAdmin(services.policy, services.audit)


def provide_audit_trail(state: State) -> AuditTrail:
    services = _services(state)

    def against_anchors() -> VerifyResult:
        return verify_chain(services.audit, services.anchorer.store, load_keyring(services.settings))

    return AuditTrail(services.audit, against_anchors)


def provide_audit_exports(state: State) -> AuditExports:
    services = _services(state)
    exporter = Exporter(
        services.audit,
        services.anchorer.store,
        services.anchorer.signer,
        batch=services.settings.audit.export_batch_rows,
    )
    return AuditExports(services.audit, exporter, services.engine)


def provide_quarantine_review(state: State) -> QuarantineReview:
    services = _services(state)
    store = services.documents.quarantine or QuarantineStore(services.engine)
    return QuarantineReview(store, services.documents.flow, services.audit)


def finetune_admin(services: Services) -> FinetuneAdmin:
    """The adapter registry's admin service (the API's routes and the console's models page)."""
    return FinetuneAdmin(AdapterRegistry(services.engine), services.audit)


def provide_finetune_admin(state: State) -> FinetuneAdmin:
    return finetune_admin(_services(state))


def provide_admin_scope(request: Request[Any, Any, Any]) -> AdminScope:
    return admin_scope(request)


DEPENDENCIES = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "pipeline": Provide(provide_pipeline, sync_to_thread=False),
    "documents": Provide(provide_documents, sync_to_thread=False),
    "policy_admin": Provide(provide_policy_admin, sync_to_thread=False),
    "audit_trail": Provide(provide_audit_trail, sync_to_thread=False),
    "audit_exports": Provide(provide_audit_exports, sync_to_thread=False),
    "admin": Provide(provide_admin_scope, sync_to_thread=False),
    "review": Provide(provide_quarantine_review, sync_to_thread=False),
    "finetune": Provide(provide_finetune_admin, sync_to_thread=False),
}
"""Registered once on the application; a handler names what it needs as a parameter."""
