"""The dashboard's figures, computed from the tenant's audit rows (nothing else is trusted for history)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.admin.scope import AdminScope
from gateway.audit.log import AuditLog
from gateway.audit.models import AUDIT_TABLE as A
from gateway.errors import AuditUnavailable

MAX_ROWS = 50_000
STAGES = ("authorize", "embed", "retrieve", "recheck", "rescreen", "generate", "links")
"""The pipeline's stage names (``gateway.pipeline``), in request order."""


@dataclass
class Dashboard:
    hours: list[str]
    requests: list[float]
    refused: list[float]
    quarantined: list[float]
    redactions: list[float]
    p95: dict[str, float]
    redactions_by_type: dict[str, float]
    rows: int


def p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


class DashboardReport:
    def __init__(self, engine: Engine, audit: AuditLog) -> None:
        self._engine, self._audit = engine, audit

    def build(self, scope: AdminScope, hours: int = 24) -> Dashboard:
        """Hourly series over the last ``hours``; the read itself is audited (one row)."""
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        since = now - timedelta(hours=hours)
        query = (
            select(A.c.occurred_at, A.c.kind, A.c.status, A.c.latencies_ms, A.c.guards, A.c.details)
            .where(A.c.tenant == scope.tenant, A.c.occurred_at >= since)
            .order_by(A.c.sequence.desc())
            .limit(MAX_ROWS)
        )
        try:
            with self._engine.connect() as conn:
                rows = list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            raise AuditUnavailable() from exc
        board = _aggregate(rows, since, hours)
        details = {"hours": hours, "rows": board.rows}
        self._audit.append(scope.record(kind="read", status="ok", action="console.dashboard", details=details))
        return board


def _aggregate(rows: list[Any], since: datetime, hours: int) -> Dashboard:
    series: dict[str, list[float]] = {k: [0.0] * hours for k in ("req", "ref", "qua", "red")}
    stages: dict[str, list[float]] = defaultdict(list)
    by_type: dict[str, float] = defaultdict(float)
    for occurred_at, kind, status, latencies, guards, details in rows:
        at = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        slot = min(hours - 1, max(0, int((at - since).total_seconds() // 3600)))
        if kind in ("ask", "search"):
            series["req"][slot] += 1
            for stage, ms in (latencies or {}).items():
                stages[stage].append(float(ms))
        if status == "refused":
            series["ref"][slot] += 1
        if (details or {}).get("quarantined") is True:
            series["qua"][slot] += 1
        for name, count in _redactions(guards or {}).items():
            series["red"][slot] += count
            by_type[name] += count
    labels = [(since + timedelta(hours=i)).strftime("%H:00") for i in range(hours)]
    ordered = {s: p95(stages[s]) for s in STAGES if s in stages} | {
        s: p95(v) for s, v in sorted(stages.items()) if s not in STAGES
    }
    return Dashboard(
        labels, series["req"], series["ref"], series["qua"], series["red"], ordered, dict(by_type), len(rows)
    )


def _redactions(guards: dict[str, Any]) -> dict[str, float]:
    """PII redactions by type, where a guard verdict records them (``{"pii": {"redactions": {...}}}``)."""
    out: dict[str, float] = {}
    for verdict in guards.values():
        found = verdict.get("redactions") if isinstance(verdict, dict) else None
        if isinstance(found, dict):
            for name, count in found.items():
                if isinstance(count, int | float):
                    out[str(name)] = out.get(str(name), 0.0) + float(count)
    return out
