"""JSON logs carrying the request id, and the Prometheus metrics the gateway exports.

Logs never carry tokens, secrets, questions or answers: only ids, codes and timings.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


def new_request_id() -> str:
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={...}`` fields are merged in."""

    _RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in self._RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages of foreign exceptions may carry data or secrets.
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marker type, so re-configuring replaces our handler and leaves others (pytest's) alone."""


def configure_logging(level: str = "INFO") -> None:
    """Route every logger through one JSON handler on stderr (idempotent)."""
    handler = _JsonHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _JsonHandler)] + [handler]
    root.setLevel(level.upper())
    # casbin logs the whole model and policy at INFO on every enforcer build (one per principal
    # view): noise, and policy content does not belong in application logs.
    for noisy in ("httpx", "httpcore", "opensearch", "urllib3", "casbin", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Metrics:
    """The gateway's Prometheus metrics, in a registry of their own (one per app instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.security_events = Counter(
            "gateway_security_events_total",
            "Security events (should stay at zero)",
            ["event"],
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "gateway_pipeline_stage_seconds",
            "Answer pipeline stage latency",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=self.registry,
        )
        self.recheck_drops = Counter(
            "gateway_recheck_dropped_total",
            "Retrieved hits dropped by the re-check, by reason (stale, uncommitted, mismatch ...)",
            ["reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures_total",
            "Requests refused for missing or invalid credentials (401), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "gateway_audit_write_failures_total",
            "Audit writes that failed (the caller got 503)",
            registry=self.registry,
        )
        self.policy_age = Gauge(
            "gateway_policy_unconfirmed_seconds",
            "Seconds since the enforced policy's version was last confirmed against the store "
            "(alert above a few polls: reloads are failing; at the staleness bound every decision is 503)",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited_total",
            "Requests refused (429) by a rate limit, by scope (subject or tenant)",
            ["scope"],
            registry=self.registry,
        )
        self.pii_entities = Counter(
            "gateway_pii_entities_total",
            "PII entities replaced in answers, by type",
            ["entity"],
            registry=self.registry,
        )
        self.query_embeddings = Gauge(
            "gateway_query_embeddings",
            "Query embeddings since start: LRU hits, LRU misses, forward passes of the micro-batcher "
            "(``result`` hit, miss, batch); hit / (hit + miss) is the LRU hit rate",
            ["result"],
            registry=self.registry,
        )
        self.pii_ner_degraded = Gauge(
            "gateway_pii_ner_degraded",
            "1 when the PII guard runs without its NER model (pattern recognizers only)",
            registry=self.registry,
        )


class RateLimitedLog:
    """At most one line per ``interval`` seconds per key; the line says how many were held back.

    For events an unauthenticated caller can trigger at will (401s): they must be visible to
    operators, but must not let anyone flood the log (or, worse, the audit chain).
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str, **extra: Any) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``interval`` ago; True when logged."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self._interval) < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
            if len(self._last) > 1024:  # keys are reason codes; bound the table anyway
                self._last = {key: now}
        self._logger.warning(message, extra={**extra, "suppressed_since_last": held})
        return True
