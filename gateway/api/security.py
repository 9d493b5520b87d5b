"""Bearer-token authentication for ``/v1`` and the admin permission check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.auth.principal import Principal
from gateway.errors import AuthenticationError, PermissionDenied

if TYPE_CHECKING:
    from gateway.deps import Services


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Guard on every ``/v1`` controller: ``Authorization: Bearer <token>`` → ``request.user``.

    A guard (not a middleware) so that refusals pass through the route's exception handling and
    leave as problem+json with the request id; the reason for a refusal is logged only.
    """
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError()
    services: Services = connection.app.state.services
    connection.scope["user"] = await services.verifier.verify(token.strip())


def services_of(request: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The process's service graph, built at start-up (``gateway.app``)."""
    services: Services = request.app.state.services
    return services


def require(services: Services, principal: Principal, resource: str, action: str) -> None:
    """Raise 403 unless policy grants ``action`` on ``resource`` (e.g. ``system:policies``)."""
    if not services.policy.decide(principal, resource, action).allowed:
        raise PermissionDenied(f"this needs '{action}' on '{resource}'")
