"""``gateway serve --workers 2`` on SQLite and the embedded index, for real (uvicorn, two processes).

The parent migrates and seeds once; the workers open the index shared. A policy change made
through one worker reaches the other by polling; a document ingested through one HTTP call is
answered from at once by every worker (each search first catches up with the other's writes);
the audit chain, appended to by both processes, verifies, with exactly one row per response.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.serving import served
from tests.e2e.test_server import _cli, _env

pytestmark = pytest.mark.slow
TENANT = "acme"
ASKS = 16
QUESTION = "How much is the weekly on-call stipend?"


@contextlib.contextmanager
def two_workers(data_dir: Path, database_url: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """``gateway serve --workers 2`` on a fresh data dir (and database), until the block ends."""
    env = _env(data_dir) | {"GATEWAY_EMBEDDING_PROVIDER": "hashing", "GATEWAY_POLICY_POLL_SECONDS": "0.2"}
    if database_url:
        env |= {"GATEWAY_DATABASE_URL": database_url, "GATEWAY_FORCE_DEV_ISSUER": "true"}
    with served(env, "--workers", "2", ready_seconds=180, stop_seconds=60) as base:
        time.sleep(2.0)  # /readyz answered from one worker; give the other time to finish starting
        yield base, env


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: SQLite in the data dir; else a fresh PostgreSQL database (skipped if none is reachable)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def _bearer(env: dict[str, str], sub: str, groups: str) -> dict[str, str]:
    out = _cli(env, "token", "--sub", sub, "--groups", groups, "--tenant", TENANT, "--ttl", "10m").stdout
    return {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}


def _ask(base: str, headers: dict[str, str]) -> httpx.Response:
    # A client per ask: a new connection each time, so the kernel spreads them over both workers.
    with httpx.Client(timeout=60) as client:
        return client.post(f"{base}/v1/ask", json={"question": QUESTION}, headers=headers)


def test_two_workers_ingest_answer_and_keep_one_verifiable_audit_chain(
    tmp_path: Path, database_url: str | None
) -> None:
    with two_workers(tmp_path, database_url) as (base, env):
        responses = _ingest_then_ask(base, env)
    verified = _cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = create_engine(database_url or f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    with engine.connect() as db:
        for response in responses:
            rows = db.execute(
                text("SELECT COUNT(*) FROM audit_log WHERE request_id = :rid"), {"rid": response.json()["request_id"]}
            ).scalar_one()
            assert rows == 1
        sequences = list(db.execute(text("SELECT sequence FROM audit_log WHERE sequence >= 0 ORDER BY 1")).scalars())
    engine.dispose()
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))  # linear, no gap


def _policy_version(base: str, headers: dict[str, str]) -> int:
    with httpx.Client(timeout=30) as client:  # a fresh connection: any worker may answer
        version: int = client.get(f"{base}/v1/admin/policies", headers=headers).json()["version"]
    return version


def _wait_for_policy_everywhere(base: str, headers: dict[str, str], *, after: int) -> None:
    """Each worker polls the policy version (every 0.2 s here), but a starved worker may poll late
    (a fixed 1 s sleep failed at load 5): wait until 12 fresh connections in a row, spread over the
    workers by the kernel, see a version newer than ``after``."""
    seen, deadline = 0, time.monotonic() + 60
    while seen < 12:
        assert time.monotonic() < deadline, "a worker did not pick up the policy edit within 60 s"
        fresh = _policy_version(base, headers) > after
        seen = seen + 1 if fresh else 0
        if not fresh:
            time.sleep(0.2)


def _ingest_then_ask(base: str, env: dict[str, str]) -> list[httpx.Response]:
    root = _bearer(env, "root", "gateway-admins")
    rule = {"ptype": "p", "rule": ["group:staff", TENANT, "collection:public", "read", "allow"]}
    before = _policy_version(base, root)  # every worker loaded the same seed policy at start
    r = httpx.post(f"{base}/v1/admin/policies", json=rule, headers=root, timeout=30)
    assert r.status_code in (200, 201), r.text
    _wait_for_policy_everywhere(base, root, after=before)

    document = {
        "id": "oncall",
        "collection": "public",
        "title": "On-call rotation",
        "text": "The weekly on-call stipend is 300 euros, paid with the monthly salary.",
    }
    r = httpx.post(f"{base}/v1/documents", json=document, headers=root, timeout=60)
    assert r.status_code in (200, 201), r.text

    alice = _bearer(env, "alice", "staff")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: _ask(base, alice), range(ASKS)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    for response in responses:  # whichever worker answered had caught up with the ingest
        body = response.json()
        assert body["answered"], body
        assert [c["document_id"] for c in body["citations"]][:1] == ["oncall"]

    return responses


def _established_by_pid(port: int) -> dict[int, int]:
    """Established TCP connections whose local port is ``port``, counted per owning process (``/proc``)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
                    inodes.add(fields[9])
    owners: dict[int, int] = {}
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        pid = int(fd_dir.parent.name)
                        owners[pid] = owners.get(pid, 0) + 1
    return owners


async def _open_together(base: str, port: int, n: int) -> dict[int, int]:
    """``n`` keep-alive connections opened in one burst (one event loop, as a client pool does), then
    who holds them."""
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=n)) as client:
        responses = await asyncio.gather(*(client.get("/readyz") for _ in range(n)))
        assert all(r.status_code == 200 for r in responses)
        return _established_by_pid(port)


def test_connections_opened_together_are_spread_over_both_workers(tmp_path: Path) -> None:
    """Before: both workers shared one listening socket and the first to wake accepted every pending
    connection: 32 keep-alive connections opened in one burst landed 32/0, 20/12, 31/1 (one process
    did all the work). Now each worker has its own SO_REUSEPORT socket and the kernel spreads them."""
    with two_workers(tmp_path, None) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        rounds = [asyncio.run(_open_together(base, port, 32)) for _ in range(5)]
    for by_pid in rounds:
        assert sum(by_pid.values()) == 32 and len(by_pid) == 2, rounds
        assert min(by_pid.values()) >= 4, rounds  # a fair split; P(< 4 of 32) ≈ 2e-6 for a random hash
