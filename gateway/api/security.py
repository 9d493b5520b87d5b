"""Route guards: bearer-token authentication for ``/v1`` and ``requires(...)`` for administration.

Guards, not code inside handlers, so that what a route needs is declared where the route is and a
console can reuse the same guards. ``requires`` decides in the tenant the request is *about*
(``tenant_of``), with the tenant model of ``gateway.authz.tenancy``, on the request's one policy
view, and audits every refusal (in that tenant) before answering 403.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.admin.scope import AdminScope
from gateway.audit.record import AuditKind, AuditStatus
from gateway.auth.failure import TokenRejected
from gateway.auth.principal import Principal
from gateway.authz.tenancy import acting_in, check_tenant
from gateway.authz.view import PolicyView
from gateway.errors import AuthenticationError, GatewayError, PermissionDenied, RateLimited
from gateway.observability import RateLimitedLog, request_id_var

if TYPE_CHECKING:
    from gateway.deps import Services

Connection = ASGIConnection[Any, Any, Any, Any]
TenantOf = Callable[[Connection], Awaitable[str]]
Guard = Callable[[Connection, BaseRouteHandler], Awaitable[None]]

_security_log = RateLimitedLog(logging.getLogger("gateway.security"))
_VIEW = "policy_view"
_SCOPE = "admin_scope"


async def authenticate(connection: Connection, _handler: BaseRouteHandler) -> None:
    """Guard on every ``/v1`` controller: ``Authorization: Bearer <token>`` → ``request.user``.

    A refusal (401) is counted and logged at a bounded rate, never written to the audit chain: an
    unauthenticated caller must not be able to flood it. The reason is never sent to the caller.
    """
    services = services_of(connection)
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError()
        connection.scope["user"] = await services.verifier.verify(token.strip())
    except AuthenticationError as exc:
        reason = exc.reason.value if isinstance(exc, TokenRejected) else "no_bearer_token"
        services.metrics.auth_failures.labels(reason=reason).inc()
        _security_log.warning(reason, "request refused: no valid credentials", event="unauthenticated", reason=reason)
        raise


async def spend_control_budget(services: Services, actor: Principal) -> None:
    """One request of ``actor``'s ``control`` budget (``gateway.ratelimit``); no-op when limits are off.

    Raises:
        RateLimited: over the subject's or the tenant's budget; the caller audits the refusal.
        RateLimitUnavailable: the counter store did not answer (503).
    """
    limiter = services.pipeline.limiter
    if limiter is None:
        return
    if limiter.shared:  # a Redis round trip: off the event loop
        await anyio.to_thread.run_sync(limiter.check, actor, "control")
    else:
        limiter.check(actor, "control")


def services_of(connection: Connection) -> Services:
    """The process's service graph, built at start-up (``gateway.app``)."""
    services: Services = connection.app.state.services
    return services


def policy_view(connection: Connection) -> PolicyView:
    """The request's one policy view: taken on first use, then the same for the whole request."""
    view: PolicyView | None = connection.state.get(_VIEW)
    if view is None:
        view = services_of(connection).policy.current()
        connection.state[_VIEW] = view
    return view


def admin_scope(connection: Connection) -> AdminScope:
    """What ``requires`` established for this request (handlers receive it by injection)."""
    scope: AdminScope = connection.state[_SCOPE]
    return scope


async def own_tenant(connection: Connection) -> str:
    principal: Principal = connection.user
    return principal.tenant


def query_tenant(name: str = "tenant") -> TenantOf:
    """The tenant named by a query parameter, the caller's own when absent."""

    async def tenant_of(connection: Connection) -> str:
        value = connection.query_params.get(name)
        return value if value is not None else await own_tenant(connection)

    return tenant_of


def requires(
    resource: str, action: str, *, audit_action: str, kind: AuditKind = "admin", tenant_of: TenantOf = own_tenant
) -> Guard:
    """A guard: the caller must hold ``action`` on ``resource`` in the tenant the request is about."""

    async def guard(connection: Connection, _handler: BaseRouteHandler) -> None:
        services = services_of(connection)
        actor: Principal = connection.user
        tenant = check_tenant(await tenant_of(connection))
        view = policy_view(connection)
        acting = acting_in(actor, tenant, services.settings.platform_tenant)
        allowed = acting is not None and view.decide(acting, resource, action).allowed
        scope = AdminScope(actor, tenant, acting or actor, view, request_id_var.get())
        try:  # every authenticated call spends the control budget, allowed or not
            await spend_control_budget(services, actor)
        except GatewayError as exc:  # 429 is a refusal; an unreachable counter store (503) a failure
            status: AuditStatus = "refused" if isinstance(exc, RateLimited) else "failed"
            details = {"error": exc.code, "resource": resource, "needs": action}
            record = scope.record(kind=kind, status=status, action=audit_action, details=details)
            await anyio.to_thread.run_sync(services.audit.append, record)
            raise
        if not allowed:
            reason = "another_tenant" if acting is None else "not_granted"
            details = {"reason": reason, "resource": resource, "needs": action}
            record = scope.record(kind=kind, status="refused", action=audit_action, details=details)
            await anyio.to_thread.run_sync(services.audit.append, record)
            raise PermissionDenied(f"this needs '{action}' on '{resource}' in tenant '{tenant}'")
        connection.state[_SCOPE] = scope

    return guard
