"""``create_app()``: the one place that wires the HTTP application together."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway import __version__
from gateway.api.admin import AdminController
from gateway.api.audit import AuditController, document_export
from gateway.api.dependencies import DEPENDENCIES, finetune_admin
from gateway.api.finetune import FinetuneController
from gateway.api.health import healthz, metrics, readyz
from gateway.api.problems import document_problems, handle_gateway_error, handle_http_exception, handle_unexpected
from gateway.api.quarantine import QuarantineController
from gateway.api.v1 import DocumentController, RetrievalController, document_ask_stream
from gateway.console import console_router, console_templates
from gateway.console.models import MODEL_ADMIN_FACTORY
from gateway.deps import Services, build_services
from gateway.errors import GatewayError
from gateway.observability import configure_logging, new_request_id, request_id_var
from gateway.settings import Settings


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (logs, problems, audit) and count it in the metrics.

    It wraps the application's whole ASGI handler, router included (see ``create_app``): a route
    middleware would not run for 404/405 answers to unmatched paths, which then had no request id.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = new_request_id()
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            services: Services | None = getattr(scope["app"].state, "services", None)
            if services is not None:
                route = scope.get("path_template") or "unmatched"
                method = scope.get("method", "GET")
                services.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
                services.metrics.latency.labels(method=method, route=route).observe(time.perf_counter() - start)
            request_id_var.reset(token)

    return middleware


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Litestar:
    """Build the application. ``services`` may be injected (tests); otherwise built from settings."""
    settings = settings or (services.settings if services else Settings())
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        svc = services or build_services(settings)
        svc.start()
        app.state.services = svc
        try:
            yield
        finally:
            svc.documents.shutdown()  # kill parse workers: in-flight ingests end with 503, not a hang
            svc.anchorer.stop()  # the shutdown anchor, also when the services were injected
            await svc.verifier.aclose()
            if services is None:
                svc.close()

    handlers: dict[Any, Any] = {
        GatewayError: handle_gateway_error,
        HTTPException: handle_http_exception,
        Exception: handle_unexpected,
    }
    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            RetrievalController,
            DocumentController,
            AdminController,
            QuarantineController,
            FinetuneController,
            AuditController,
            *([console_router(settings)] if settings.console.enabled else []),
        ],
        template_config=console_templates() if settings.console.enabled else None,
        dependencies=DEPENDENCIES,
        state=State({MODEL_ADMIN_FACTORY: finetune_admin}),  # the console's models page
        exception_handlers=handlers,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="gateway", version=__version__, path="/schema"),
        debug=False,
        logging_config=None,
        # Documents arrive base64-encoded in JSON: allow the configured document size plus headroom.
        request_max_body_size=settings.max_document_bytes * 4 // 3 + 1_000_000,
    )
    app.asgi_handler = request_context_middleware(app.asgi_handler)
    document_problems(app.openapi_schema)
    document_export(app.openapi_schema)
    document_ask_stream(app.openapi_schema)
    return app
