"""Version numbers come from the database: two processes racing on one document never share one
(issue 7, item 10). The old code read the version and wrote N+1 under a per-process lock, so two
gateways could both pick N+1."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from gateway import migrate

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PER_PROCESS = 25


def _assign(url: str, barrier: Any, out: Any) -> None:
    from gateway.db import make_engine
    from gateway.ingest.documents import DocumentInput
    from gateway.ingest.registry import DocumentRegistry

    engine = make_engine(url)
    registry = DocumentRegistry(engine)
    doc = DocumentInput(document_id="contested", title="t", text="x", collection="c")
    barrier.wait()  # both processes start together, so even the first insert is contested
    versions = []
    for _ in range(PER_PROCESS):
        with engine.begin() as conn:
            versions.append(registry.assign_version(conn, "acme", doc))
    out.put(versions)
    engine.dispose()


def test_two_processes_never_assign_the_same_version_on_postgresql(pg_url: str) -> None:
    migrate.upgrade(pg_url)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_assign, args=(pg_url, barrier, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assigned = sorted(v for versions in results for v in versions)
    assert assigned == list(range(1, 2 * PER_PROCESS + 1))
    assert all(versions == sorted(versions) for versions in results)
