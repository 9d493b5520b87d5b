"""A real audit stack for tests: migrated database, audit log, anchor store with a sink, audit key."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from gateway import migrate
from gateway.audit.anchored import verify_chain
from gateway.audit.anchors import Anchorer, AnchorStore
from gateway.audit.keys import AuditSigner, Keyring, load_keyring, load_signer
from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord, RetrievedRef
from gateway.audit.verify import VerifyResult
from gateway.db import make_engine
from gateway.settings import Settings
from tests.conftest import PG_ADMIN_URL, _pg_reachable

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def record(i: int, **overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "request_id": f"req-{i}",
        "kind": "ask" if i % 4 else "admin",
        "status": "answered" if i % 5 else "refused",
        "tenant": "acme" if i % 2 else "globex",
        "subject": f"user-{i % 3}",
        "groups": ("staff",),
        "policy_version": 2,
        "occurred_at": T0 + timedelta(hours=i),
        "question": f"What is the salary band {i}? é",
        "answer": f"Band {i} [1].",
        "citations": ({"marker": 1, "document_id": "hr-1", "title": "Salary bands", "version": 1},),
        "retrieved": (RetrievedRef("hr-1#0", "hr-1", 1, 0.5),),
        "details": {"collection": "hr" if i % 3 else "finance"},
    }
    values.update(overrides)
    return AuditRecord(**values)


@dataclass
class Kit:
    settings: Settings
    engine: Engine
    log: AuditLog
    store: AnchorStore
    anchorer: Anchorer

    @property
    def signer(self) -> AuditSigner:
        return self.anchorer.signer

    def keyring(self) -> Keyring:
        return load_keyring(self.settings)

    def fill(self, rows: int, *, anchor_every: int = 0, start: int = 1) -> None:
        for i in range(start, start + rows):
            self.log.append(record(i))
            if anchor_every and i % anchor_every == 0:
                self.anchorer.anchor_now("periodic")

    def verify(self) -> VerifyResult:
        return verify_chain(self.log, self.store, self.keyring(), batch=7)


def make_kit(url: str, data_dir: Path, **audit: Any) -> Kit:
    migrate.upgrade(url)
    settings = Settings(
        environment="test",
        data_dir=data_dir,
        database_url=url,
        audit={"anchor_sink": data_dir / "anchors.jsonl", **audit},
    )  # type: ignore[arg-type]
    engine = make_engine(url)
    log = AuditLog(engine)
    store = AnchorStore(engine, settings.audit.anchor_sink)
    anchorer = Anchorer(log, store, load_signer(settings), every_rows=1000, every_seconds=3600)
    return Kit(settings, engine, log, store, anchorer)


@contextmanager
def module_database(kind: str, directory: Path) -> Iterator[str]:
    """A database that lives for a whole test module (for read-only tests that share one fill)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'gateway.sqlite3'}"
        return
    if not _pg_reachable():
        pytest.skip("PostgreSQL not reachable")
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(name="kit", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kit_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    made = make_kit(url, tmp_path / "data")
    yield made
    made.engine.dispose()


def run_behind_barrier(script: str, argvs: list[list[str]], gate: Path, *, timeout: float = 120) -> list[str]:
    """Run ``python -c script *argv`` once per entry of ``argvs`` and return each one's stdout.

    Each worker writes ``gate/<name>.ready`` once it has imported everything and opened its engine,
    then waits for ``gate/go``: the barrier opens only when all are ready, however slowly a loaded
    machine starts them (a fixed start time made the concurrency tests flaky under load).
    """
    root = Path(__file__).resolve().parents[2]
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv, str(gate)],
            cwd=root,
            env={"PYTHONPATH": str(root), "PATH": ""},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    deadline = time.monotonic() + timeout
    while len(list(gate.glob("*.ready"))) < len(procs):
        assert all(p.poll() is None for p in procs), "a worker died before the barrier"
        assert time.monotonic() < deadline, "the workers never became ready"
        time.sleep(0.01)
    (gate / "go").touch()
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs
