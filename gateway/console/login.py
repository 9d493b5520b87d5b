"""``/console/login``, ``/console/callback``, ``/console/logout`` and, with the development issuer
only, ``/console/login/dev`` (pick a sample persona)."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Response, Template

from gateway.admin.scope import AdminScope
from gateway.api.security import policy_view, services_of
from gateway.auth.claims import principal_from_claims
from gateway.auth.failure import IssuerUnreachable, TokenRejected
from gateway.auth.principal import Principal
from gateway.console.oidc import end_session_url, exchange_code, login_request
from gateway.console.security import (
    CSRF_FIELD,
    CsrfRefused,
    cookie_value,
    csrf_guard,
    is_https,
)
from gateway.console.session import COOKIE, SECURE_COOKIE, SessionStore, new_session, session_cookie_name
from gateway.deps import REPO_ROOT
from gateway.errors import AuthenticationError, InvalidRequest, ServiceUnavailable
from gateway.observability import request_id_var
from gateway.settings import Settings

PERSONAS_FILE = REPO_ROOT / "data" / "sample" / "personas.json"
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def origin(request: Request[Any, Any, Any]) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def redirect_uri(request: Request[Any, Any, Any], settings: Settings) -> str:
    return settings.console.redirect_uri or f"{origin(request)}/console/callback"


def with_cookie(response: Response[Any], request: Request[Any, Any, Any], session_id: str | None) -> Response[Any]:
    """Set (or, with ``None``, clear) the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    secure = is_https(request)
    if session_id is None:
        for name in (COOKIE, SECURE_COOKIE):
            response.delete_cookie(name, path="/")
        return response
    response.set_cookie(session_cookie_name(secure), session_id, path="/", httponly=True, samesite="lax", secure=secure)
    return response


def personas() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(PERSONAS_FILE.read_text())["personas"]
    return data


async def _audit(request: Request[Any, Any, Any], principal: Principal, action: str, status: str) -> None:
    services = services_of(request)
    scope = AdminScope(principal, principal.tenant, principal, policy_view(request), request_id_var.get())
    record = scope.record(kind="admin", status=status, action=action)  # type: ignore[arg-type]
    await anyio.to_thread.run_sync(services.audit.append, record)


async def finish_login(request: Request[Any, Any, Any], sessions: SessionStore, principal: Principal) -> Response[Any]:
    """A new session (never the pre-login one) for ``principal``, its login audited, then the console.

    Whether the principal may use the console is decided on every request (roles can be revoked
    mid-session); someone without ``admin`` or ``auditor`` gets the 403 page there, audited.
    """
    await sessions.delete(cookie_value(request))
    session = new_session()
    session.subject, session.tenant, session.groups = principal.subject, principal.tenant, sorted(principal.groups)
    session_id = await sessions.create(session)
    await _audit(request, principal, "console.login", "ok")
    return with_cookie(Redirect("/console/", status_code=303), request, session_id)


class LoginController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]) -> Template:
        sso = bool(settings.oidc.issuer and settings.oidc.client_id)
        error = request.query_params.get("error")
        return Template("login.html", context={"sso": sso, "dev": settings.dev_issuer, "error": error})

    @get("/login/sso")
    async def login_sso(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionStore],
    ) -> Response[Any]:
        issuer = services_of(request).verifier.oidc
        if issuer is None or not settings.oidc.client_id:
            raise InvalidRequest("single sign-on is not configured")
        try:
            endpoint = (await issuer.metadata()).authorization_endpoint
        except IssuerUnreachable:
            endpoint = None
        if endpoint is None:
            raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable")
        url, pending = login_request(settings, endpoint, redirect_uri(request, settings))
        await sessions.delete(cookie_value(request))
        session = new_session()
        session.pending = pending
        session_id = await sessions.create(session)
        return with_cookie(Redirect(url, status_code=303), request, session_id)

    @get("/callback")
    async def callback(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionStore],
    ) -> Response[Any]:
        """Check ``state`` against the session, exchange the code with the PKCE verifier, verify the ID token."""
        session_id = cookie_value(request)
        session = await sessions.load(session_id)
        pending = session.pending if session is not None else {}
        state, code = request.query_params.get("state", ""), request.query_params.get("code")
        if not pending or not hmac.compare_digest(state.encode(), pending["state"].encode()):
            raise AuthenticationError("this login was not started here, or it expired: log in again")
        await sessions.delete(session_id)  # one use: a replayed callback finds nothing
        issuer = services_of(request).verifier.oidc
        if code is None or issuer is None:
            raise AuthenticationError("the identity provider did not log you in")
        try:
            claims = await exchange_code(settings, issuer, code, pending)
            principal = principal_from_claims(claims, settings.oidc)
        except TokenRejected as exc:
            exc.log()
            raise AuthenticationError("the identity provider's answer was refused") from None
        except IssuerUnreachable:
            raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable") from None
        return await finish_login(request, sessions, principal)


class LogoutController(Controller):
    """Behind the session guard (without the role gate: anyone may end their own session)."""

    path = "/console"
    include_in_schema = False

    @post("/logout", guards=[csrf_guard])
    async def logout(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionStore],
    ) -> Response[Any]:
        """End the session here, then at the IdP when it advertises RP-initiated logout."""
        principal: Principal = request.user
        await sessions.delete(cookie_value(request))
        await _audit(request, principal, "console.logout", "ok")
        target = "/console/login"
        issuer = services_of(request).verifier.oidc
        if issuer is not None and settings.oidc.client_id:
            try:
                endpoint = (await issuer.metadata()).end_session_endpoint
            except IssuerUnreachable:
                endpoint = None  # the local session is gone either way
            if endpoint is not None:
                target = end_session_url(endpoint, settings.oidc.client_id, f"{origin(request)}/console/login")
        return with_cookie(Redirect(target, status_code=303), request, None)


class DevLoginController(Controller):
    """Registered only with ``GATEWAY_DEV_ISSUER=true``: otherwise these routes do not exist (404)."""

    path = "/console/login/dev"
    include_in_schema = False

    @get("/")
    async def personas_page(
        self, request: Request[Any, Any, Any], sessions: NamedDependency[SessionStore]
    ) -> Response[Any]:
        session_id = cookie_value(request)
        session = await sessions.load(session_id)
        if session is None or session_id is None:
            session = new_session()
            session_id = await sessions.create(session)
        page = Template("login_dev.html", context={"personas": personas(), "csrf": session.csrf})
        return with_cookie(page, request, session_id)

    @post("/")
    async def pick(
        self, request: Request[Any, Any, Any], sessions: NamedDependency[SessionStore], data: Form
    ) -> Response[Any]:
        session = await sessions.load(cookie_value(request))
        sent = data.get(CSRF_FIELD, "")
        if session is None or not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise CsrfRefused()
        chosen = next((p for p in personas() if p["subject"] == data.get("subject")), None)
        if chosen is None:
            raise InvalidRequest("no such sample persona")
        principal = Principal(chosen["subject"], chosen["tenant"], frozenset(chosen["groups"]))
        return await finish_login(request, sessions, principal)


__all__ = ["DevLoginController", "LoginController", "LogoutController"]
