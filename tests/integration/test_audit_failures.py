"""An audit store that is not there is reported as AuditUnavailable, never as a raw driver error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gateway import migrate
from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord
from gateway.db import make_engine
from gateway.errors import AuditUnavailable

RECORD = AuditRecord(
    request_id="req-1",
    kind="ask",
    status="failed",
    tenant="acme",
    subject="alice",
    groups=(),
    policy_version=1,
    occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
)

OPERATIONS: list[tuple[str, Callable[[AuditLog], Any]]] = [
    ("append", lambda log: log.append(RECORD)),
    ("ping", lambda log: log.ping()),
    ("verify", lambda log: log.verify()),
    ("iter_rows", lambda log: list(log.iter_rows())),
    ("search", lambda log: log.search(tenant="acme", subject=None, kind=None, limit=5, before_sequence=None)),
]
OPERATION_IDS = [name for name, _ in OPERATIONS]


def _assert_unavailable(log: AuditLog, operation: Callable[[AuditLog], Any], caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(AuditUnavailable) as info:
        operation(log)
    assert info.value.detail == AuditUnavailable.title  # the cause is logged, never exposed
    assert info.value.__cause__ is not None
    assert any(r.name == "gateway.audit.log" and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("operation", [op for _, op in OPERATIONS], ids=OPERATION_IDS)
def test_unmigrated_sqlite_database_is_unavailable(
    sqlite_url: str, operation: Callable[[AuditLog], Any], caplog: pytest.LogCaptureFixture
) -> None:
    _assert_unavailable(AuditLog(make_engine(sqlite_url)), operation, caplog)


@pytest.mark.parametrize("operation", [op for _, op in OPERATIONS], ids=OPERATION_IDS)
def test_unopenable_sqlite_file_is_unavailable(
    tmp_path: Path, operation: Callable[[AuditLog], Any], caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'gateway.sqlite3'}"
    _assert_unavailable(AuditLog(make_engine(url)), operation, caplog)


@pytest.mark.postgres
@pytest.mark.parametrize("operation", [op for _, op in OPERATIONS], ids=OPERATION_IDS)
def test_unreachable_postgres_is_unavailable(
    pg_available: bool, operation: Callable[[AuditLog], Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/gateway", connect_args={"connect_timeout": 2})
    _assert_unavailable(AuditLog(engine), operation, caplog)


@pytest.mark.postgres
def test_dropped_postgres_database_is_unavailable(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    migrate.upgrade(pg_url)
    engine = make_engine(pg_url)
    log = AuditLog(engine)
    log.append(RECORD)
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
    _assert_unavailable(log, lambda lg: lg.append(RECORD), caplog)
    engine.dispose()
