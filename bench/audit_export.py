"""Audit export and verification at scale: streaming vs load-everything, on SQLite and PostgreSQL.

Builds an audit table of ``--rows`` real chained rows (format 2 hashes, ~400 bytes of question
and answer text each) with a signed anchor every 1,000 rows, then measures in **fresh child
processes** (so each peak RSS is its own):

* the streaming exporter (:class:`gateway.audit.export.Exporter`, keyset pages of 2,000 rows) to
  jsonl, csv and parquet, with the signed manifest;
* the naive export in the same run: one query, every row loaded into a list, then written;
* anchored verification of the whole table (:func:`gateway.audit.anchored.verify_chain`);
* offline verification of the jsonl export (:func:`gateway.audit.offline.verify_export`).

``python -m bench.audit_export [--rows 1000000] [--db sqlite,postgres] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet  # noqa: F401 - every child imports the same modules, so peak RSS compares
from sqlalchemy import create_engine, insert, text

from bench.common import Report, console, machine
from gateway import migrate
from gateway.audit.anchored import verify_chain
from gateway.audit.anchors import AnchorStore, sign_anchor
from gateway.audit.chain import GENESIS_HASH, canonical_bytes, canonical_dict, stored_row
from gateway.audit.export import Exporter, ExportFilter, manifest_path
from gateway.audit.keys import load_keyring, load_signer
from gateway.audit.log import AuditEntry, AuditLog
from gateway.audit.models import ANCHOR_TABLE, AUDIT_TABLE
from gateway.audit.offline import load_manifest, verify_export
from gateway.audit.record import AuditRecord, RetrievedRef
from gateway.db import make_engine
from gateway.settings import Settings

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        request_id=uuid.UUID(int=i).hex,
        kind="ask",
        status="answered",
        tenant=f"tenant-{i % 7}",
        subject=f"user-{i % 5000}",
        groups=("staff", f"team-{i % 40}"),
        policy_version=12,
        occurred_at=T0 + timedelta(milliseconds=50 * i),
        question=f"How many vacation days does a level {i % 9} engineer in team {i % 40} get after three years?",
        answer=("Engineers at that level get 27 days after three years, plus one day per further year [1]. " * 3),
        citations=({"marker": 1, "document_id": f"hr-{i % 300}", "title": "Leave policy", "version": 3},),
        retrieved=tuple(RetrievedRef(f"hr-{i % 300}#{k}", f"hr-{i % 300}", 3, 0.9 - k / 10) for k in range(3)),
        generator="extractive",
        latencies_ms={"retrieve": 3.2, "generate": 12.5, "total": 16.1},
    )


def fill(url: str, rows: int, settings: Settings) -> None:
    """``rows`` chained rows and an anchor every 1,000, written in batches of 5,000."""
    migrate.upgrade(url)
    engine = make_engine(url)
    signer = load_signer(settings)
    prev, batch, anchors = GENESIS_HASH, [], []
    start = time.perf_counter()
    for i in range(1, rows + 1):
        row = stored_row(_record(i), sequence=i, prev_hash=prev)
        prev = row["row_hash"]
        batch.append(row)
        if i % 1000 == 0:
            anchors.append(AnchorStore.row_of(sign_anchor(signer, AuditEntry(i, prev), "periodic")))
        if len(batch) == 5000 or i == rows:
            with engine.begin() as conn:
                conn.execute(insert(AUDIT_TABLE), batch)
                if anchors:
                    conn.execute(insert(ANCHOR_TABLE), anchors)
            batch, anchors = [], []
            console.print(f"  filled {i:,} rows ({time.perf_counter() - start:.0f} s)", end="\r")
    console.print()
    engine.dispose()


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints a JSON line with seconds, rows and peak RSS."""
    settings = Settings(environment="test", data_dir=Path(args.data_dir), database_url=args.url)
    start = time.perf_counter()
    rows = MEASURES[args.child](settings, Path(args.out), args.format)  # type: ignore[operator]
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": peak_mb}))


def _tools(settings: Settings) -> tuple[Any, Any, Any]:
    engine = make_engine(settings.resolved_database_url)
    log = AuditLog(engine)
    return log, AnchorStore(engine), (load_signer(settings), load_keyring(settings))


def m_stream(settings: Settings, out: Path, fmt: str) -> int:
    log, store, (signer, _) = _tools(settings)
    manifest = Exporter(log, store, signer, batch=2000).export(ExportFilter(), fmt, out)  # type: ignore[arg-type]
    return int(manifest["row_count"])


def m_naive(settings: Settings, out: Path, _fmt: str) -> int:
    """What an export without keyset pages does: one query, a list of every row, then write."""
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        rows = [
            canonical_dict(r) for r in conn.execute(AUDIT_TABLE.select().order_by(AUDIT_TABLE.c.sequence)).mappings()
        ]
    with out.open("wb") as handle:
        for row in rows:
            handle.write(canonical_bytes(row) + b"\n")
    return len(rows)


def m_verify(settings: Settings, _out: Path, _fmt: str) -> int:
    log, store, (_, keyring) = _tools(settings)
    result = verify_chain(log, store, keyring, batch=2000)
    assert result.ok, result.problem
    return result.rows_checked


def m_verify_export(settings: Settings, out: Path, _fmt: str) -> int:
    report = verify_export(out, load_manifest(manifest_path(out)), load_keyring(settings))
    assert report.ok, report.problems
    return report.rows


def m_baseline(settings: Settings, _out: Path, _fmt: str) -> int:
    """Imports only: the floor every child's peak RSS stands on."""
    return 0


MEASURES = {
    "stream": m_stream,
    "naive": m_naive,
    "verify": m_verify,
    "verify_export": m_verify_export,
    "baseline": m_baseline,
}


def measure(name: str, url: str, data_dir: Path, out: Path, fmt: str = "jsonl") -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.audit_export", "--child", name, "--url", url]
    cmd += ["--data-dir", str(data_dir), "--out", str(out), "--format", fmt]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _database(kind: str) -> tuple[str, Any]:
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="bench-audit-")
        return f"sqlite:///{directory}/audit.sqlite3", None
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)


def _add(report: Report, kind: str, label: str, res: dict[str, float], base: float) -> None:
    rate = res["rows"] / res["seconds"]
    report.add(kind, label, int(res["rows"]), rate, res["seconds"], res["peak_mb"], res["peak_mb"] - base)
    console.print(f"  {label}: {rate:,.0f} rows/s, {res['seconds']:.0f} s, peak {res['peak_mb']:.0f} MB")


def run_db(kind: str, rows: int, report: Report) -> None:
    url, cleanup = _database(kind)
    work = Path(tempfile.mkdtemp(prefix="bench-audit-out-"))
    settings = Settings(environment="test", data_dir=work / "data", database_url=url)
    try:
        console.print(f"[bold]{kind}[/bold]: filling {rows:,} rows")
        fill(url, rows, settings)
        base = measure("baseline", url, work / "data", work / "none")["peak_mb"]
        cases = [
            ("export jsonl, streaming", "stream", "jsonl"),
            ("export csv, streaming", "stream", "csv"),
            ("export parquet, streaming", "stream", "parquet"),
            ("export jsonl, naive (load all)", "naive", "jsonl"),
            ("verify chain against anchors", "verify", "jsonl"),
        ]
        for label, name, fmt in cases:
            _add(report, kind, label, measure(name, url, work / "data", work / f"{name}.{fmt}", fmt), base)
        offline = measure("verify_export", url, work / "data", work / "stream.jsonl")
        _add(report, kind, "verify-export jsonl (offline)", offline, base)
    finally:
        if cleanup is not None:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--quick", action="store_true", help="50,000 rows")
    p.add_argument("--child", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--format", default="jsonl", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    rows = 50_000 if args.quick else args.rows
    console.print(machine())
    report = Report(
        f"Audit export and verification, {rows:,} rows (fresh process each; peak RSS)",
        ["db", "operation", "rows", "rows/s", "seconds", "peak RSS MB", "above import floor MB"],
    )
    for kind in args.db.split(","):
        run_db(kind, rows, report)
    report.print()
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_export.md").write_text(report.markdown())


if __name__ == "__main__":
    main()
