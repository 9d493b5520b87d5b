"""Liveness, readiness and Prometheus metrics (no authentication; no data)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.deps import Services
from gateway.errors import GatewayError


@get("/healthz", sync_to_thread=False, include_in_schema=True)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", sync_to_thread=True)
def readyz(request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
    """Database, search index and policy are all usable and the audit chain is being anchored;
    503 names which are not."""
    services: Services = request.app.state.services
    checks: dict[str, str] = {}

    def policy() -> None:
        _ = services.policy.version  # raises PolicyUnavailable when not loaded or stale

    for name, probe in (("database", services.audit.ping), ("index", services.retriever.ping), ("policy", policy)):
        try:
            probe()
            checks[name] = "ok"
        except GatewayError as exc:
            checks[name] = exc.code
    # The anchorer's last attempt: a gateway that cannot sign its chain head keeps writing rows,
    # but their trust root lags, so readiness says so (and `gateway doctor` says how far).
    checks["anchors"] = "ok" if services.anchorer.last_error is None else "anchor_failed"
    limiter = services.pipeline.limiter
    if limiter is not None and services.settings.limits.redis_url:  # a shared store that can be down
        checks["rate_limits"] = "ok" if limiter.ping() else "rate_limit_unavailable"
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


# Litestar appends the charset to text/* itself; prometheus-client's constant already carries one.
METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


@get("/metrics", sync_to_thread=False, media_type=METRICS_MEDIA_TYPE)
def metrics(request: Request[Any, Any, State]) -> Response[bytes]:
    """Prometheus exposition of request counts and latencies by route and status."""
    services: Services = request.app.state.services
    return Response(generate_latest(services.metrics.registry), media_type=METRICS_MEDIA_TYPE)
