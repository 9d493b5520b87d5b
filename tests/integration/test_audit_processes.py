"""Several gateway processes append to one PostgreSQL audit chain at once, each with several
request threads (group commit inside a process, the advisory lock across processes): the chain
stays linear, gapless and verifiable, with one row per append."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from gateway import migrate
from gateway.audit.log import AuditLog
from gateway.db import make_engine
from tests.integration.audit_kit import run_behind_barrier

WORKER = textwrap.dedent(
    """
    import pathlib, sys, threading, time
    from datetime import UTC, datetime
    from gateway.audit.log import AuditLog
    from gateway.audit.record import AuditRecord
    from gateway.db import make_engine

    url, name, gate = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[5])
    count, threads = int(sys.argv[3]), int(sys.argv[4])
    log = AuditLog(make_engine(url))
    (gate / f"{name}.ready").touch()
    while not (gate / "go").exists():
        time.sleep(0.002)
    began = time.time()

    def work(t):
        for i in range(count):
            log.append(AuditRecord(
                request_id=f"{name}-{t}-{i}", kind="ask", status="answered", tenant="acme", subject=name,
                groups=(), policy_version=1, occurred_at=datetime.now(UTC), question=f"q {i}",
            ))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(began, time.time(), log.group.batches)
    """
)


@pytest.mark.postgres
def test_four_processes_with_concurrent_requests_keep_one_linear_chain(pg_url: str, tmp_path: Path) -> None:
    processes, threads, per_thread = 4, 4, 12
    migrate.upgrade(pg_url)
    gate = tmp_path / "gate"
    argvs = [[pg_url, f"p{n}", str(per_thread), str(threads)] for n in range(processes)]
    spans: list[tuple[float, float]] = []
    for out in run_behind_barrier(WORKER, argvs, gate):
        began, ended, _batches = out.split()
        spans.append((float(began), float(ended)))
    assert max(b for b, _ in spans) < min(e for _, e in spans), "the processes did not run at once"
    total = processes * threads * per_thread
    engine = make_engine(pg_url)
    log = AuditLog(engine)
    result = log.verify()
    assert result.ok, result.problem
    rows = list(log.iter_rows())
    assert [r["sequence"] for r in rows] == list(range(1, total + 1))
    expected = {f"p{n}-{t}-{i}" for n in range(processes) for t in range(threads) for i in range(per_thread)}
    assert sorted(r["request_id"] for r in rows) == sorted(expected)
    # Every row's predecessor is the row before it, whichever process wrote either.
    assert all(rows[i]["prev_hash"] == rows[i - 1]["row_hash"] for i in range(1, total))
    writers = [r["subject"] for r in rows]
    assert sum(1 for a, b in itertools.pairwise(writers) if a != b) >= processes - 1
    engine.dispose()
