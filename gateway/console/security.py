"""Console request security: the session guard, the role gate, CSRF, and the response headers.

The console authenticates with its session instead of a bearer token, then hands the request to the
very guards of the API (``gateway.api.security.requires``): the same Casbin decision, in the same
tenant, with the same audited refusal. Only ``admin`` and ``auditor`` (roles reached through policy,
never taken from a token) get in at all.
"""

from __future__ import annotations

import hmac
from typing import Any

import anyio.to_thread
from litestar import Request, Response
from litestar.handlers.base import BaseRouteHandler

from gateway.admin.scope import AdminScope
from gateway.api.security import Connection, policy_view, services_of
from gateway.auth.principal import Principal
from gateway.console.session import COOKIE, SECURE_COOKIE, ConsoleSession, SessionStore
from gateway.errors import GatewayError, PermissionDenied
from gateway.observability import request_id_var

CONSOLE_ROLES = ("role:admin", "role:auditor")
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SESSION = "console_session"
_SESSION_ID = "console_session_id"


class LoginRequired(GatewayError):
    """No live console session: pages redirect to the login page."""

    status_code = 401
    code = "login_required"
    title = "Login required"


class CsrfRefused(GatewayError):
    status_code = 403
    code = "csrf_refused"
    title = "Missing or wrong CSRF token"


def is_https(connection: Connection) -> bool:
    return connection.url.scheme == "https"


def cookie_value(connection: Connection) -> str | None:
    return connection.cookies.get(SECURE_COOKIE) or connection.cookies.get(COOKIE)


def session_of(connection: Connection) -> ConsoleSession:
    """The session the guards loaded for this request."""
    session: ConsoleSession = connection.state[_SESSION]
    return session


def console_roles(connection: Connection, principal: Principal) -> list[str]:
    """The console roles policy gives ``principal`` in its tenant (on the request's policy view)."""
    reached = policy_view(connection).expand(principal)
    return [role.removeprefix("role:") for role in CONSOLE_ROLES if role in reached]


def session_guard(store: SessionStore, *, console_role: bool = True) -> Any:
    """Guard of every console page: a live, logged-in session of an admin or auditor
    (``console_role=False``: any logged-in session, for logging out)."""

    async def guard(connection: Connection, _handler: BaseRouteHandler) -> None:
        session_id = cookie_value(connection)
        session = await store.load(session_id)
        if session is None or session_id is None or session.principal is None:
            raise LoginRequired()
        await store.save(session_id, session)  # renews the idle timeout
        connection.state[_SESSION] = session
        connection.state[_SESSION_ID] = session_id
        principal = session.principal
        connection.scope["user"] = principal
        if console_role and not console_roles(connection, principal):
            await _audit_refusal(connection, principal)
            raise PermissionDenied("the console is for administrators and auditors")

    return guard


async def _audit_refusal(connection: Connection, principal: Principal) -> None:
    services = services_of(connection)
    view = policy_view(connection)
    scope = AdminScope(principal, principal.tenant, principal, view, request_id_var.get())
    details = {"reason": "not_admin_or_auditor", "path": connection.url.path[:200]}
    record = scope.record(kind="admin", status="refused", action="console.access", details=details)
    await anyio.to_thread.run_sync(services.audit.append, record)


async def csrf_guard(connection: Connection, _handler: BaseRouteHandler) -> None:
    """State-changing requests carry the session's CSRF token (form field or header).

    The token is the synchronizer kind: random per session, kept server-side, compared in constant
    time. SameSite=Lax already keeps other sites' POSTs from carrying the cookie; this is the second
    lock (same-site subdomains, old browsers). Runs after ``session_guard``.
    """
    if connection.scope.get("method", "GET") not in UNSAFE_METHODS:
        return
    expected = session_of(connection).csrf
    sent = connection.headers.get(CSRF_HEADER)
    if sent is None and isinstance(connection, Request):
        form = await connection.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused()


def content_security_policy(form_targets: str = "") -> str:
    """No inline script or style anywhere; nothing from other origins but the IdP as a form target
    (logout redirects there after a POST, and browsers apply ``form-action`` to redirects)."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'{form_targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def security_headers(csp: str) -> Any:
    """An ``after_request`` hook that adds the console's headers to every console response."""

    async def after(response: Response[Any]) -> Response[Any]:
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the callback URL carries the code
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return after
