"""The admin console at ``/console``: server-rendered pages (Jinja), one vendored stylesheet and
script, sessions on the server, login by OIDC (or, with the development issuer, a persona picker).

``console_router(settings)`` is all ``create_app`` needs; ``console_templates()`` its template config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from gateway.console.audit_pages import AuditPages
from gateway.console.login import DevLoginController, LoginController, LogoutController
from gateway.console.model_pages import ModelPages
from gateway.console.pages import DashboardController, ExplainPage, PolicyPages, QuarantinePages
from gateway.console.security import (
    LoginRequired,
    content_security_policy,
    csrf_guard,
    security_headers,
    session_guard,
)
from gateway.console.session import SessionStore, provide_session_store
from gateway.errors import GatewayError
from gateway.observability import request_id_var
from gateway.settings import Settings

HERE = Path(__file__).parent
log = logging.getLogger("gateway.console")


def console_templates() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja with autoescaping on for every template (``.html``), strict undefined names."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, LoginRequired) and request.method == "GET":
        return Redirect("/console/login", status_code=303)
    if isinstance(exc, GatewayError):
        status, title = exc.status_code, exc.title
        detail = exc.detail if status < 500 else "Please try again later."
    elif isinstance(exc, HTTPException):
        status, title = exc.status_code, "Error"
        detail = str(exc.detail) if status < 500 else "Please try again later."
    else:
        log.error("unhandled error in the console", exc_info=exc)
        status, title, detail = 500, "Internal error", "Please try again later."
    if isinstance(exc, GatewayError) and status >= 500:
        log.warning("dependency failure", extra={"code": exc.code, "status": status})
    context = {"status": status, "title": title, "detail": detail, "request_id": request_id_var.get(), "me": None}
    return Template("error.html", context=context, status_code=status)


def console_router(settings: Settings, sessions: SessionStore | None = None) -> Router:
    """Every console route under ``/console``, with its headers, error pages and session store."""
    store = sessions or provide_session_store(settings)
    issuer = settings.oidc.issuer
    targets = ""
    if issuer:
        parts = urlsplit(issuer)
        targets = f" {parts.scheme}://{parts.netloc}"
    pages = Router(
        path="/",
        route_handlers=[DashboardController, PolicyPages, ExplainPage, QuarantinePages, AuditPages, ModelPages],
        guards=[session_guard(store)],
    )
    logout = Router(path="/", route_handlers=[LogoutController], guards=[session_guard(store, console_role=False)])
    handlers: list[Any] = [pages, logout, LoginController]
    if settings.dev_issuer:
        handlers.append(DevLoginController)
    handlers.append(
        create_static_files_router(path="/console/static", directories=[HERE / "static"], include_in_schema=False)
    )
    return Router(
        path="/",
        route_handlers=handlers,
        # The console's own settings object (the one its routes were built from) for its handlers.
        dependencies={
            "sessions": Provide(lambda: store, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
        },
        after_request=security_headers(content_security_policy(targets)),
        exception_handlers={GatewayError: _error_page, HTTPException: _error_page, Exception: _error_page},
        include_in_schema=False,
    )


__all__ = ["console_router", "console_templates", "csrf_guard"]
