"""Audit appends per second into one PostgreSQL chain from 1, 2 and 4 gateway processes.

Each process runs ``--threads`` request threads that each append ``--rows`` rows, the way
concurrent ``/v1/ask`` requests do; processes start together behind a file barrier. ``grouped``
is the default ``AuditLog`` (rows that are ready together share one transaction, the advisory
lock held for that append only); ``naive`` is one transaction per row (``max_batch=1``). The
chain is verified after every run.

``python -m bench.audit_appends`` (needs PostgreSQL at 127.0.0.1:5432, trust auth).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import Report, console, machine
from gateway import migrate
from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord
from gateway.db import make_engine

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results"


def worker(url: str, name: str, rows: int, threads: int, max_batch: int, gate: Path) -> None:
    """One gateway process: ``threads`` request threads appending ``rows`` rows each."""
    log = AuditLog(make_engine(url), max_batch=max_batch)
    log.head()  # connect before the barrier
    (gate / f"{name}.ready").touch()
    while not (gate / "go").exists():
        time.sleep(0.001)

    def work(t: int) -> None:
        for i in range(rows):
            log.append(
                AuditRecord(
                    request_id=f"{name}-{t}-{i}", kind="ask", status="answered", tenant="acme", subject=name,
                    groups=("staff",), policy_version=1, occurred_at=datetime.now(UTC), question=f"question {i}",
                    latencies_ms={"embed": 12.0, "retrieve": 3.0},
                )
            )  # fmt: skip

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    print(time.time(), log.group.batches)


def run(admin_url: str, processes: int, threads: int, rows: int, max_batch: int) -> tuple[float, float, bool]:
    """(appends/s, rows per transaction, chain verifies) for one configuration on a fresh database."""
    name = f"bench_audit_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    try:
        migrate.upgrade(url)
        gate = Path(tempfile.mkdtemp(prefix="bench-audit-"))
        cmd = [sys.executable, "-m", "bench.audit_appends", "--worker", url]
        procs = [
            subprocess.Popen(
                [*cmd, f"p{n}", str(rows), str(threads), str(max_batch), str(gate)], stdout=subprocess.PIPE, text=True
            )
            for n in range(processes)
        ]
        while len(list(gate.glob("*.ready"))) < processes:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker died before the barrier")
            time.sleep(0.005)
        start = time.time()
        (gate / "go").touch()
        outs = [p.communicate(timeout=600)[0].split() for p in procs]
        wall = max(float(o[0]) for o in outs) - start
        transactions = sum(int(o[1]) for o in outs)
        total = processes * threads * rows
        engine = make_engine(url)
        ok = AuditLog(engine).verify().ok and AuditLog(engine).count() == total
        engine.dispose()
        per_tx = total / transactions if transactions else 1.0
        return total / wall, per_tx, ok
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, name, rows, threads, max_batch, gate = sys.argv[2:8]
        worker(url, name, int(rows), int(threads), int(max_batch), Path(gate))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=ADMIN_URL, help="an existing database to create the bench databases from")
    p.add_argument("--processes", default="1,2,4")
    p.add_argument("--threads", type=int, default=8, help="request threads per process")
    p.add_argument("--rows", type=int, default=50, help="rows per thread")
    args = p.parse_args()
    console.print(machine())
    report = Report(
        f"Audit appends into one PostgreSQL chain ({args.threads} request threads per process, {args.rows} rows each)",
        ["processes", "mode", "appends/s", "rows per transaction", "x naive", "chain verifies"],
    )
    for processes in (int(x) for x in args.processes.split(",")):
        naive, _, naive_ok = run(args.url, processes, args.threads, args.rows, 1)
        grouped, per_tx, ok = run(args.url, processes, args.threads, args.rows, 64)
        report.add(processes, "naive (1 row per transaction)", naive, 1.0, 1.0, "yes" if naive_ok else "NO")
        report.add(processes, "grouped (default)", grouped, per_tx, grouped / naive, "yes" if ok else "NO")
    report.print()
    out = RESULTS / "audit-appends.md"
    out.write_text(machine() + "\n\n" + report.markdown(), encoding="utf-8")
    console.print(f"markdown table: {out}")


if __name__ == "__main__":
    main()
