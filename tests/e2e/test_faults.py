"""Faults injected at the seams of real components: every one answers 503 problem JSON, is audited
``failed`` exactly once, never leaks an unfiltered or unaudited answer, and recovers without a restart.

Model backend and search backend faults are subclasses of the real implementations (the
extractive generator, the embedded engine); database faults are real locks, a real read-only
switch and a really refused connection on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import Services, build_services
from gateway.errors import SearchUnavailable
from gateway.generation.base import NO_CONTEXT, AskContext, Completion
from gateway.generation.extractive import ExtractiveGenerator
from gateway.retrieval.base import Hit, SearchRequest
from gateway.retrieval.embedded import EmbeddedRetriever
from tests.e2e.conftest import TENANT, load_sample, make_settings
from tests.integration.audit_kit import module_database

QUESTION = {"question": "How long is the on-call rotation?"}


class SlowGenerator(ExtractiveGenerator):
    """A model backend that takes ``delay`` seconds per answer (a loaded GPU, a slow remote API)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        time.sleep(self.delay)
        return super().generate(question, passages, context)


class DownGenerator(ExtractiveGenerator):
    """A model backend whose connection is refused (an OpenAI-compatible server that is not there)."""

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        raise ConnectionRefusedError("model server at 127.0.0.1:1 refused the connection")


class FlakyIndex(EmbeddedRetriever):
    """The embedded engine, with a switch that takes its search down or makes it hang."""

    down = False
    delay = 0.0

    def search(self, request: SearchRequest) -> list[Hit]:
        if self.down:
            raise SearchUnavailable("the search backend is down")
        time.sleep(self.delay)
        return super().search(request)


def _client(services: Services) -> TestClient[Any]:
    return TestClient(app=create_app(services=services))


def _headers(services: Services, subject: str = "alice") -> dict[str, str]:
    token = mint_dev_token(services.settings, subject, ["staff", "engineering"], tenant=TENANT, ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


def _asks(services: Services) -> list[dict[str, Any]]:
    return services.audit.search(tenant=TENANT, kind="ask", limit=100)


def _assert_503(r: Any, code: str) -> None:
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == code and body["request_id"] == r.headers["x-request-id"]
    assert "detail" not in body and "answer" not in body and "Traceback" not in r.text


def _settings(data_dir: Path, **stages: Any) -> Any:
    return make_settings(data_dir, stages=stages, limits={"enabled": False})


# -- model backend -------------------------------------------------------------------------------


def test_a_slow_model_is_cut_off_at_the_generation_timeout_and_audited(data_dir: Path) -> None:
    services = build_services(_settings(data_dir, generation_timeout_seconds=0.3))
    services.pipeline.generator = SlowGenerator(delay=2.0)
    with _client(services) as client:
        start = time.perf_counter()
        r = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
        elapsed = time.perf_counter() - start
    _assert_503(r, "timeout")
    assert elapsed < 1.5  # bounded wait: the timeout, not the model's 2 s
    row = _asks(services)[0]
    assert (row["status"], row["details"]["error"], row["request_id"]) == ("failed", "timeout", r.json()["request_id"])
    assert row["answer"] is None
    services.close()


def test_a_model_backend_that_is_down_is_a_503_audited_failed(data_dir: Path) -> None:
    services = build_services(_settings(data_dir))
    services.pipeline.generator = DownGenerator()
    with _client(services) as client:
        r = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
        _assert_503(r, "model_unavailable")
        services.pipeline.generator = ExtractiveGenerator()  # the backend is back: no restart needed
        assert client.post("/v1/ask", json=QUESTION, headers=_headers(services)).status_code == 200
    assert [r["status"] for r in _asks(services)] == ["answered", "failed"]
    services.close()


def test_generation_slots_are_bounded_and_a_waiter_gets_503_busy(data_dir: Path) -> None:
    services = build_services(_settings(data_dir, generation_concurrency=1, queue_seconds=0.2))
    services.pipeline.generator = SlowGenerator(delay=1.0)
    with _client(services) as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/v1/ask", json=QUESTION, headers=_headers(services))
        time.sleep(0.4)  # the first request holds the only generation slot
        second = client.post("/v1/ask", json=QUESTION, headers=_headers(services, "bob"))
        assert first.result().status_code == 200
    _assert_503(second, "busy")
    assert second.headers["retry-after"] == "1"
    statuses = sorted((r["subject"], r["status"]) for r in _asks(services))
    assert statuses == [("alice", "answered"), ("bob", "failed")]
    services.close()


# -- search backend ------------------------------------------------------------------------------


@pytest.fixture
def flaky(data_dir: Path) -> Iterator[tuple[Services, FlakyIndex]]:
    settings = _settings(data_dir, retrieval_timeout_seconds=0.3)
    index = FlakyIndex(settings.index_dir)
    services = build_services(settings, retriever=index)
    yield services, index
    services.close()


@pytest.mark.parametrize("fault", ["down", "hangs"])
def test_a_search_backend_fault_is_a_503_never_unfiltered_results(
    flaky: tuple[Services, FlakyIndex], fault: str
) -> None:
    services, index = flaky
    with _client(services) as client:
        if fault == "down":
            index.down = True
        else:
            index.delay = 1.0
        search = client.post("/v1/search", json={"query": "salary bands"}, headers=_headers(services))
        ask = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
        _assert_503(search, "search_unavailable" if fault == "down" else "timeout")
        _assert_503(ask, "search_unavailable" if fault == "down" else "timeout")
        assert "hits" not in search.json()
        index.down, index.delay = False, 0.0
        time.sleep(1.0 if fault == "hangs" else 0)  # the hung call finishes and frees its slot
        assert client.post("/v1/ask", json=QUESTION, headers=_headers(services)).status_code == 200
    rows = services.audit.search(tenant=TENANT, subject="alice", limit=10)
    assert [(r["kind"], r["status"]) for r in rows] == [("ask", "answered"), ("ask", "failed"), ("search", "failed")]
    assert all(r["retrieved"] == [] for r in rows[1:])


# -- database (SQLite) ---------------------------------------------------------------------------


def test_a_locked_sqlite_database_is_a_503_without_an_answer_and_recovers(data_dir: Path) -> None:
    services = build_services(_settings(data_dir, audit_timeout_seconds=0.3))
    with _client(services) as client:
        before = services.audit.count()
        holder = sqlite3.connect(data_dir / "gateway.sqlite3", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            r = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _assert_503(r, "audit_unavailable")
        assert services.audit.count() == before  # no row, and no answer either
        again = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
        assert again.status_code == 200 and again.json()["answered"]
    assert services.audit.count() == before + 1 and services.audit.verify().ok
    services.close()


# -- database (PostgreSQL) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_module_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One PostgreSQL database for this module's fault tests (each repairs what it broke)."""
    with module_database("postgres", tmp_path_factory.mktemp("faults-pg")) as url:
        yield url


@pytest.fixture(scope="module")
def pg_gateway(
    pg_module_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Services, TestClient[Any]]]:
    settings = make_settings(
        tmp_path_factory.mktemp("pg-faults"),
        database_url=pg_module_url,
        stages={"audit_timeout_seconds": 0.5},
        limits={"enabled": False},
    )
    services = build_services(settings)
    with _client(services) as client:
        load_sample(services)
        yield services, client
    services.close()


def _admin(pg_url: str) -> Any:
    return create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")


def _kick(admin: Any, name: str) -> None:
    """Terminate the gateway's pooled sessions (what a failover or a restart of the server does)."""
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
            ),
            {"d": name},
        )


SLOW_TRIGGER = (
    "CREATE FUNCTION slow_audit() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$ LANGUAGE plpgsql;"
    " CREATE TRIGGER slow_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION slow_audit()"
)


def _inject(fault: str, pg_url: str, holder: Any, admin: Any) -> None:
    name = pg_url.rsplit("/", 1)[1]
    if fault == "locked":  # another session holds the table: the append waits for lock_timeout
        holder.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
    elif fault == "slow":  # every insert takes 3 s: statement_timeout cuts it off
        holder.execute(text(SLOW_TRIGGER))
        holder.commit()
    else:
        change = "SET default_transaction_read_only = on" if fault == "read_only" else "WITH ALLOW_CONNECTIONS false"
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" {change}'))
        _kick(admin, name)  # a failover to a read-only standby / the server refusing new sessions


def _repair(fault: str, pg_url: str, holder: Any, admin: Any) -> None:
    name = pg_url.rsplit("/", 1)[1]
    if fault == "locked":
        holder.rollback()
    elif fault == "slow":
        holder.execute(text("DROP TRIGGER slow_audit ON audit_log; DROP FUNCTION slow_audit()"))
        holder.commit()
    else:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        _kick(admin, name)


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["locked", "slow", "read_only", "down"])
def test_a_postgres_fault_is_a_503_without_an_answer_and_recovers(
    pg_gateway: tuple[Services, TestClient[Any]], pg_module_url: str, fault: str
) -> None:
    (services, client), pg_url = pg_gateway, pg_module_url
    admin = _admin(pg_url)
    holder_engine = create_engine(pg_url)
    holder = holder_engine.connect() if fault in {"locked", "slow"} else None
    assert client.post("/v1/ask", json=QUESTION, headers=_headers(services)).status_code == 200
    before = services.audit.count()
    _inject(fault, pg_url, holder, admin)
    try:
        r = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
    finally:
        _repair(fault, pg_url, holder, admin)
        if holder is not None:
            holder.close()
        holder_engine.dispose()
        admin.dispose()
    assert r.status_code == 503, r.text
    assert r.json()["code"] in {"audit_unavailable", "policy_unavailable"} and "answer" not in r.json()
    again = client.post("/v1/ask", json=QUESTION, headers=_headers(services))
    assert again.status_code == 200, again.text  # recovered without a restart
    rows = services.audit.search(tenant=TENANT, kind="ask", limit=3)
    assert services.audit.verify().ok
    # The refused request left no row (the database was the fault) or one ``failed`` row; never an answered one.
    assert services.audit.count() in {before + 1, before + 2}
    assert next(r["request_id"] for r in rows if r["status"] == "answered") == again.json()["request_id"]
    assert r.json()["request_id"] not in {row["request_id"] for row in rows if row["status"] == "answered"}


# -- concurrency bound on embedding ---------------------------------------------------------------


def test_embedding_slots_bound_concurrent_forward_passes(data_dir: Path) -> None:
    services = build_services(_settings(data_dir, embedding_concurrency=2))
    inside, peak, lock = 0, 0, threading.Lock()
    embed = services.pipeline.embedder.embed

    def counting(texts: Sequence[str]) -> Any:
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return embed(texts)

    services.pipeline.embedder.embed = counting  # type: ignore[method-assign]
    with _client(services) as client, ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda i: client.post("/v1/search", json={"query": f"q{i}"}, headers=_headers(services)), range(6))
        )
    assert all(r.status_code == 200 for r in results) and peak == 2
    services.close()


# -- policy store --------------------------------------------------------------------------------


def _unconfirmed(client: TestClient[Any]) -> float:
    line = next(x for x in client.get("/metrics").text.splitlines() if x.startswith("gateway_policy_unconfirmed"))
    return float(line.split()[-1])


def test_a_policy_store_outage_alerts_then_fails_closed_then_recovers_without_restart(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    services = build_services(_settings(data_dir))  # polls every 0.2 s, stale after 1.5 s
    search = {"query": "on-call rotation"}
    with _client(services) as client:
        assert _unconfirmed(client) < 1.0
        with services.engine.begin() as conn:  # the store disappears (a dropped schema, a bad restore)
            conn.execute(text("ALTER TABLE policy_state RENAME TO policy_state_away"))
        time.sleep(0.7)
        assert client.post("/v1/search", json=search, headers=_headers(services)).status_code == 200  # last good
        assert _unconfirmed(client) >= 0.5  # the alert signal rises while the last good policy is enforced
        time.sleep(services.policy.stale_after)
        refused = client.post("/v1/search", json=search, headers=_headers(services))
        _assert_503(refused, "policy_unavailable")  # never without a policy
        with services.engine.begin() as conn:
            conn.execute(text("ALTER TABLE policy_state_away RENAME TO policy_state"))
        time.sleep(0.6)
        assert client.post("/v1/search", json=search, headers=_headers(services)).status_code == 200
        assert _unconfirmed(client) < 1.0
    assert any(r.name == "gateway.authz.service" and r.levelname == "WARNING" for r in caplog.records)
    rows = services.audit.search(tenant=TENANT, kind="search", limit=3)
    assert [(r["status"], r["details"].get("error")) for r in rows][1] == ("failed", "policy_unavailable")
    services.close()
