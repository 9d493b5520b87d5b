"""Concurrent appends never fork the chain: threads in one process, and separate processes."""

from __future__ import annotations

import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import migrate
from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord
from gateway.db import make_engine
from tests.integration.audit_kit import run_behind_barrier


def record(worker: str, i: int) -> AuditRecord:
    return AuditRecord(
        request_id=f"{worker}-{i}",
        kind="ask",
        status="answered",
        tenant="acme",
        subject=worker,
        groups=("staff",),
        policy_version=1,
        occurred_at=datetime.now(UTC),
        question=f"question {i}",
        latencies_ms={"total": 1.5},
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate.upgrade(url)
    return url


def _assert_gapless_chain(log: AuditLog, expected_rows: int) -> None:
    result = log.verify()
    assert result.ok, result.problem
    assert result.rows_checked == expected_rows
    assert [r["sequence"] for r in log.iter_rows()] == list(range(1, expected_rows + 1))


def test_threads_appending_at_once_keep_one_gapless_chain(audit_url: str) -> None:
    threads, per_thread = 8, 25
    engine = make_engine(audit_url)
    log = AuditLog(engine)
    barrier = threading.Barrier(threads)
    sequences: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                sequences.append(log.append(record(f"t{n}", i)).sequence)
        except BaseException as exc:  # collected and re-checked below, never swallowed
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert sorted(sequences) == list(range(1, threads * per_thread + 1))
    _assert_gapless_chain(log, threads * per_thread)
    engine.dispose()


WORKER = textwrap.dedent(
    """
    import pathlib, sys, time
    from datetime import UTC, datetime
    from gateway.audit.log import AuditLog
    from gateway.audit.record import AuditRecord
    from gateway.db import make_engine

    url, name, count, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), pathlib.Path(sys.argv[4])
    log = AuditLog(make_engine(url))
    (gate / f"{name}.ready").touch()
    while not (gate / "go").exists():  # a barrier across processes: nobody starts before all are ready
        time.sleep(0.002)
    began = time.time()
    for i in range(count):
        log.append(AuditRecord(
            request_id=f"{name}-{i}", kind="admin", status="ok", tenant="acme", subject=name,
            groups=(), policy_version=1, occurred_at=datetime.now(UTC), action="policy.add",
        ))
    print(began, time.time())
    """
)


def _connect_once(url: str) -> None:
    engine = make_engine(url)
    with engine.connect():
        pass
    engine.dispose()


@pytest.mark.slow
def test_processes_appending_at_once_keep_one_gapless_chain(audit_url: str, tmp_path: Path) -> None:
    processes, per_process = 3, 60
    # Put a fresh SQLite file into WAL mode first: make_engine's connect hook switches the journal
    # mode before it sets busy_timeout, so processes racing to be first can see "database is locked".
    _connect_once(audit_url)
    gate = tmp_path / "gate"
    argvs = [[audit_url, f"p{n}", str(per_process)] for n in range(processes)]
    spans: list[tuple[float, float]] = []
    for out in run_behind_barrier(WORKER, argvs, gate):
        began, ended = map(float, out.split())
        spans.append((began, ended))
    # SQLite's busy handler is not fair, so rows need not interleave; but every worker must have
    # been appending while every other was, or the test proves nothing about concurrency.
    assert max(b for b, _ in spans) < min(e for _, e in spans), "the workers did not run at once"
    engine = make_engine(audit_url)
    log = AuditLog(engine)
    _assert_gapless_chain(log, processes * per_process)
    engine.dispose()
