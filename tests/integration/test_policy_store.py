"""Policy administration against real databases (SQLite file and PostgreSQL), failing closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text

import gateway.authz.models
from gateway.auth.principal import Principal
from gateway.authz.models import CasbinRule, PolicyState
from gateway.authz.rules import PolicyRule
from gateway.authz.service import DocumentRef, PolicyService
from gateway.db import Base, make_engine
from gateway.errors import InvalidRequest, PolicyUnavailable

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "policies" / "model.conf"
SEED = ROOT / "policies"
GRANT = PolicyRule("p", ("group:finance", "acme", "collection:finance", "read", "allow"))
ALICE = Principal("alice", "acme", frozenset({"finance"}))
FINANCE_DOC = DocumentRef("acme", "finance", (), ())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    assert gateway.authz.models.PolicyState.__tablename__ == "policy_state"
    eng = make_engine(db_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def service(engine: Engine) -> Iterator[PolicyService]:
    svc = PolicyService(engine, MODEL, poll_seconds=0.2, max_stale_seconds=0.6)
    svc.load_seed_if_empty(SEED)
    svc.start()
    yield svc
    svc.stop()


def _version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(PolicyState.version)) or 0)


def test_seed_loads_only_into_an_empty_store(engine: Engine) -> None:
    svc = PolicyService(engine, MODEL)
    assert svc.load_seed_if_empty(SEED) is True
    assert svc.load_seed_if_empty(SEED) is False
    assert _version(engine) == 1


def test_seed_policy_is_enforced(service: PolicyService) -> None:
    admin = Principal("root", "acme", frozenset({"gateway-admins"}))
    assert service.decide(admin, "system:policies", "admin").allowed
    assert not service.decide(ALICE, "system:policies", "read").allowed


def test_add_and_remove_bump_the_version_and_apply_at_once(service: PolicyService, engine: Engine) -> None:
    before = service.version
    assert not service.can_read(ALICE, FINANCE_DOC).allowed
    assert service.add_rule(GRANT, actor="admin") is True
    assert service.version == _version(engine) == before + 1
    assert service.can_read(ALICE, FINANCE_DOC).allowed
    assert GRANT in service.list_rules()
    assert service.add_rule(GRANT, actor="admin") is False  # a no-op keeps the version
    assert _version(engine) == before + 1
    assert service.remove_rule(GRANT, actor="admin") is True
    assert not service.can_read(ALICE, FINANCE_DOC).allowed
    assert service.remove_rule(GRANT, actor="admin") is False
    assert _version(engine) == before + 2


@pytest.mark.parametrize(
    "rule",
    [
        PolicyRule("p", ("group:finance", "acme", "collection:finance", "read")),
        PolicyRule("p", ("finance", "acme", "collection:finance", "read", "allow")),
        PolicyRule("p", ("group:finance", "acme", "collection:finance", "delete", "allow")),
        PolicyRule("p", ("group:a, b", "acme", "collection:finance", "read", "allow")),
        PolicyRule("p", ("doc:allow", "*", "collection:*", "read", "allow")),
        PolicyRule("g", ("user:alice", "user:bob", "acme")),
        PolicyRule("g", ("user:alice", "group:x", "ac*")),
        PolicyRule("x", ("user:alice",)),
    ],
)
def test_malformed_rules_are_refused(service: PolicyService, engine: Engine, rule: PolicyRule) -> None:
    before = _version(engine)
    with pytest.raises(InvalidRequest):
        service.add_rule(rule, actor="admin")
    assert _version(engine) == before


def test_reload_seed_replaces_every_rule(service: PolicyService) -> None:
    service.add_rule(GRANT, actor="admin")
    service.reload_seed(SEED, actor="admin")
    assert GRANT not in service.list_rules()
    assert not service.can_read(ALICE, FINANCE_DOC).allowed


def test_rule_and_version_commit_together(service: PolicyService, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE policy_state"))
    with pytest.raises(PolicyUnavailable):
        service.add_rule(GRANT, actor="admin")
    with engine.connect() as conn:
        assert conn.scalar(select(CasbinRule.id).where(CasbinRule.v0 == "group:finance")) is None


def test_a_malformed_stored_rule_fails_the_load_closed(service: PolicyService, engine: Engine) -> None:
    """The last good policy is kept for ``stale_after`` seconds (one bad reload is not an outage), then
    every decision refuses: a malformed line is never skipped (it might be a deny)."""
    with engine.begin() as conn:
        conn.execute(insert(CasbinRule).values(ptype="p", v0="group:x", v1="acme", v2="collection:hr", v3="read"))
        conn.execute(text("UPDATE policy_state SET version = version + 1"))
    deadline = time.monotonic() + service.stale_after + 3
    while service.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not service.loaded
    with pytest.raises(PolicyUnavailable):
        service.can_read(ALICE, FINANCE_DOC)


@pytest.mark.parametrize(
    "url",
    ["sqlite:///{tmp}/missing-dir/db.sqlite3", "postgresql+psycopg://postgres@127.0.0.1:1/none"],
)
@pytest.mark.parametrize("call", ["decide", "can_read", "compile_filter", "version", "add_rule"])
def test_unreachable_database_at_start_refuses_every_call(tmp_path: Path, url: str, call: str) -> None:
    svc = PolicyService(make_engine(url.format(tmp=tmp_path)), MODEL, poll_seconds=0.2)
    svc.start()
    admin = Principal("root", "acme", frozenset({"gateway-admins"}))
    calls = {
        "decide": lambda: svc.decide(admin, "system:policies", "admin"),
        "can_read": lambda: svc.can_read(admin, FINANCE_DOC),
        "compile_filter": lambda: svc.compile_filter(admin),
        "version": lambda: svc.version,
        "add_rule": lambda: svc.add_rule(GRANT, actor="admin"),
    }
    try:
        assert svc.loaded is False
        with pytest.raises(PolicyUnavailable):
            calls[call]()
    finally:
        svc.stop()


@pytest.mark.postgres
def test_dropped_database_refuses_within_the_grace_period(pg_url: str) -> None:
    engine = make_engine(pg_url)
    Base.metadata.create_all(engine)
    svc = PolicyService(engine, MODEL, poll_seconds=0.2, max_stale_seconds=0.6)
    svc.load_seed_if_empty(SEED)
    svc.start()
    admin = Principal("root", "acme", frozenset({"gateway-admins"}))
    try:
        assert svc.decide(admin, "system:policies", "admin").allowed
        name = pg_url.rsplit("/", 1)[1]
        admin_engine = make_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin_engine.dispose()
        deadline = time.monotonic() + svc.stale_after + 2
        while svc.loaded and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.loaded is False
        with pytest.raises(PolicyUnavailable):
            svc.decide(admin, "system:policies", "admin")
        with pytest.raises(PolicyUnavailable):
            svc.compile_filter(admin)
    finally:
        svc.stop()
        engine.dispose()


def test_sqlite_file_removed_refuses(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    Base.metadata.create_all(engine)
    svc = PolicyService(engine, MODEL, poll_seconds=0.2, max_stale_seconds=0.6)
    svc.load_seed_if_empty(SEED)
    svc.start()
    admin = Principal("root", "acme", frozenset({"gateway-admins"}))
    try:
        assert svc.decide(admin, "system:policies", "admin").allowed
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE policy_state"))
        deadline = time.monotonic() + svc.stale_after + 2
        while svc.loaded and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(PolicyUnavailable):
            svc.decide(admin, "system:policies", "admin")
    finally:
        svc.stop()
        engine.dispose()
