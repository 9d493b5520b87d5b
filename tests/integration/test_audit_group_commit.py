"""Group-committed audit appends (SQLite and PostgreSQL): one row per request, a gapless chain that
verifies, fewer transactions than rows, and every caller's row committed before it returns."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from gateway import migrate
from gateway.audit.log import AuditLog
from gateway.audit.models import AUDIT_TABLE
from gateway.db import make_engine
from tests.integration.test_audit_concurrency import record


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate.upgrade(url)
    return url


def test_concurrent_appends_are_grouped_into_one_gapless_verifiable_chain(audit_url: str) -> None:
    threads, per_thread = 16, 15
    engine = make_engine(audit_url)
    log = AuditLog(engine, max_batch=64)
    reader = make_engine(audit_url)  # a separate pool: sees only what is committed
    barrier = threading.Barrier(threads)
    invisible: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                rec = record(f"t{n}", i)
                entry = log.append(rec)
                with reader.connect() as conn:
                    row = conn.execute(
                        select(AUDIT_TABLE.c.sequence).where(AUDIT_TABLE.c.request_id == rec.request_id)
                    ).first()
                if row is None or row[0] != entry.sequence:
                    invisible.append(rec.request_id)
        except BaseException as exc:  # collected and re-checked below, never swallowed
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = threads * per_thread
    assert errors == []
    assert invisible == []  # each append returned only after its own row was committed
    result = log.verify()
    assert result.ok, result.problem
    rows = list(log.iter_rows())
    assert [r["sequence"] for r in rows] == list(range(1, total + 1))
    assert sorted(r["request_id"] for r in rows) == sorted(
        f"t{n}-{i}" for n in range(threads) for i in range(per_thread)
    )
    assert log.group.batches < total  # rows that were ready together shared a transaction
    engine.dispose()
    reader.dispose()


def test_one_transaction_per_row_when_grouping_is_off(audit_url: str) -> None:
    engine = make_engine(audit_url)
    log = AuditLog(engine, max_batch=1)
    for i in range(3):
        assert log.append(record("solo", i)).sequence == i + 1
    assert log.group.batches == 0
    assert log.verify().ok
    engine.dispose()
