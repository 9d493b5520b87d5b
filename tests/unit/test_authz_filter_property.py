"""The compiled ACL filter and Casbin agree on every document, for generated policies.

For random policies (``g`` lines including the ``*`` domain, allow/deny ``p`` lines) over a small
universe, random principals and random documents:
``compile_filter(principal).matches(doc...) == can_read(principal, doc).allowed``. The in-memory
test also draws the PII readers (possibly none) and puts ``pii:restricted`` in some deny lists.
The number of checks is counted and asserted when the module finishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

import gateway.authz.models
from gateway.auth.principal import Principal
from gateway.authz.functions import Resource
from gateway.authz.rules import PII_RESTRICTED, PolicyRule
from gateway.authz.service import DocumentRef, PolicyService
from gateway.authz.store import PolicyStore
from gateway.db import Base

MODEL = Path(__file__).resolve().parents[2] / "policies" / "model.conf"

TENANTS = ("acme", "globex")
COLLECTIONS = ("hr", "finance", "eng")
USERS = ("alice", "bob", "carol")
GROUPS = ("g1", "g2", "g3", "g4")
ROLES = ("r1", "r2", "r3")
PRINCIPALS = (*(f"user:{u}" for u in USERS), *(f"group:{g}" for g in GROUPS), *(f"role:{r}" for r in ROLES))
TARGETS = PRINCIPALS[len(USERS) :]
RESOURCES = (*(f"collection:{c}" for c in COLLECTIONS), "collection:*", "system:audit")

g_lines = st.builds(
    lambda member, target, dom: PolicyRule("g", (member, target, dom)),
    st.sampled_from(PRINCIPALS),
    st.sampled_from(TARGETS),
    st.sampled_from((*TENANTS, "*")),
).filter(lambda rule: rule.fields[0] != rule.fields[1])
p_lines = st.builds(
    lambda sub, dom, obj, act, eft: PolicyRule("p", (sub, dom, obj, act, eft)),
    st.sampled_from(PRINCIPALS),
    st.sampled_from((*TENANTS, "*")),
    st.sampled_from(RESOURCES),
    st.sampled_from(("read", "write", "admin", "export")),
    # allow twice as likely as deny, so that some documents are readable
    st.sampled_from(("allow", "allow", "deny")),
)
policies = st.tuples(st.lists(g_lines, max_size=10), st.lists(p_lines, max_size=12)).map(lambda gp: [*gp[0], *gp[1]])
principals = st.builds(
    Principal,
    st.sampled_from(USERS),
    st.sampled_from(TENANTS),
    st.frozensets(st.sampled_from(GROUPS), max_size=3),
)
acl_lists = st.lists(st.sampled_from(PRINCIPALS), max_size=3).map(tuple)
deny_lists = st.lists(st.sampled_from((*PRINCIPALS, PII_RESTRICTED)), max_size=3).map(tuple)
documents = st.builds(DocumentRef, st.sampled_from(TENANTS), st.sampled_from(COLLECTIONS), acl_lists, deny_lists)
readers = st.frozensets(st.sampled_from(PRINCIPALS), max_size=2)
cases = st.lists(st.tuples(principals, documents), min_size=20, max_size=20)

CHECKS = {"memory": 0, "database": 0, "allowed": 0, "mismatches": 0}


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[str, int]]:
    """Counts the checks; asserts the volume and zero mismatches once the module's tests ran."""
    yield CHECKS
    print(f"\nACL filter vs Casbin: {CHECKS}")
    assert CHECKS["mismatches"] == 0
    if CHECKS["memory"]:
        assert CHECKS["memory"] >= 5000
        assert CHECKS["allowed"] > 500  # the generator produces readable documents too


def _check(service: PolicyService, pairs: list[tuple[Principal, DocumentRef]], key: str) -> None:
    for principal, doc in pairs:
        acl = service.compile_filter(principal)
        expected = service.can_read(principal, doc).allowed
        CHECKS[key] += 1
        CHECKS["allowed"] += expected
        if acl.matches(doc.tenant, doc.collection, doc.allow, doc.deny) != expected:
            CHECKS["mismatches"] += 1
        assert acl.matches(doc.tenant, doc.collection, doc.allow, doc.deny) == expected, (principal, doc, acl)
        assert service.explain(principal, doc).allowed == expected
        # The principal's view of the policy (what can_read runs on) decides as the whole policy.
        snapshot = service.current().snapshot
        resource = Resource(doc.tenant, f"collection:{doc.collection}", tuple(doc.allow), tuple(doc.deny))
        assert snapshot.enforce(principal, resource, "read")[0] == snapshot.enforce_full(principal, resource, "read")[0]
        restricted = PII_RESTRICTED in acl.principals
        reached = service.expand(principal) - {PII_RESTRICTED}
        readers = service.restricted_readers
        assert restricted == (bool(readers) and not readers & reached), (principal, readers, reached)
        assert not (restricted and PII_RESTRICTED in doc.deny and expected)
        if doc.tenant == principal.tenant:
            collection_only = service.decide(principal, f"collection:{doc.collection}", "read").allowed
            assert acl.matches(doc.tenant, doc.collection, (), ()) == collection_only


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=policies, pairs=cases, pii_readers=readers)
def test_filter_agrees_with_casbin(
    tally: dict[str, int],
    rules: list[PolicyRule],
    pairs: list,  # type: ignore[type-arg]
    pii_readers: frozenset[str],
) -> None:
    _check(PolicyService.from_rules(MODEL, rules, restricted_readers=pii_readers), pairs, "memory")


@pytest.fixture(scope="module")
def db_service() -> Iterator[tuple[PolicyService, PolicyStore]]:
    """One in-memory SQLite database; each example replaces its rules through the store."""
    assert gateway.authz.models.CasbinRule.__tablename__ == "casbin_rule"
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    store = PolicyStore(engine)
    yield PolicyService(engine, MODEL), store
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=policies, pairs=cases)
def test_filter_agrees_with_casbin_through_the_database(
    tally: dict[str, int],
    db_service: tuple[PolicyService, PolicyStore],
    rules: list[PolicyRule],
    pairs: list,  # type: ignore[type-arg]
) -> None:
    service, store = db_service
    store.replace_all(rules, "hypothesis")
    service.reload()
    assert service.list_rules() == rules
    _check(service, pairs, "database")
