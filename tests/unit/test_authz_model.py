"""The document policy model as a truth table: one row per rule of the model."""

from __future__ import annotations

from pathlib import Path

import casbin
import pytest
from casbin.rbac.default_role_manager import DomainManager

from gateway.auth.principal import Principal
from gateway.authz.rules import PolicyRule, parse_line
from gateway.authz.service import DocumentRef, PolicyService

MODEL = Path(__file__).resolve().parents[2] / "policies" / "model.conf"
SEED = MODEL.parent

POLICY = """
g, user:alice, group:finance, acme
g, group:finance, role:analyst, acme
g, group:gateway-admins, role:admin, *
g, group:everywhere, role:reader, *
p, role:analyst, acme, collection:finance, read, allow
p, group:staff, acme, collection:handbook, read, allow
p, group:contractors, acme, collection:handbook, read, deny
p, group:staff, acme, collection:secret, read, deny
p, role:reader, *, collection:public, read, allow
p, role:admin, *, collection:*, admin, allow
p, group:editors, acme, collection:drafts, write, allow
p, group:no-write, acme, collection:drafts, write, deny
p, group:quarantined, acme, collection:*, read, deny
"""


def _service() -> PolicyService:
    rules = [rule for line in POLICY.splitlines() if (rule := parse_line(line)) is not None]
    return PolicyService.from_rules(MODEL, rules)


SERVICE = _service()


def who(subject: str, tenant: str = "acme", *groups: str) -> Principal:
    return Principal(subject, tenant, frozenset(groups))


def doc(collection: str, tenant: str = "acme", allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()) -> DocumentRef:
    return DocumentRef(tenant, collection, allow, deny)


@pytest.mark.parametrize(
    ("rule", "principal", "document", "expected"),
    [
        ("deny beats group allow", who("bob", "acme", "staff", "contractors"), doc("handbook"), False),
        ("group allow", who("bob", "acme", "staff"), doc("handbook"), True),
        ("doc-level allow without grant", who("carol"), doc("hr", allow=("user:carol",)), True),
        (
            "doc-level allow through a token group",
            who("carol", "acme", "x"),
            doc("hr", allow=("group:x",)),
            True,
        ),
        ("no grant, no doc allow", who("carol"), doc("hr"), False),
        (
            "doc deny beats collection grant",
            who("bob", "acme", "staff"),
            doc("handbook", deny=("user:bob",)),
            False,
        ),
        ("doc deny through a policy role", who("alice"), doc("finance", deny=("role:analyst",)), False),
        (
            "doc deny beats doc allow",
            who("carol"),
            doc("hr", allow=("user:carol",), deny=("user:carol",)),
            False,
        ),
        (
            "collection deny beats doc allow",
            who("bob", "acme", "staff"),
            doc("secret", allow=("user:bob",)),
            False,
        ),
        (
            "collection:* deny beats everything",
            who("q", "acme", "quarantined", "staff"),
            doc("handbook"),
            False,
        ),
        ("other tenant never readable", who("bob", "globex", "staff"), doc("handbook"), False),
        ("other tenant even with doc allow", who("bob", "globex"), doc("hr", allow=("user:bob",)), False),
        ("other tenant even for admin", who("root", "globex", "gateway-admins"), doc("hr"), False),
        ("* domain role applies in acme", who("eve", "acme", "everywhere"), doc("public"), True),
        (
            "* domain role applies in globex",
            who("eve", "globex", "everywhere"),
            doc("public", "globex"),
            True,
        ),
        (
            "* domain role applies in a new tenant",
            who("eve", "new", "everywhere"),
            doc("public", "new"),
            True,
        ),
        ("policy-added group membership counts", who("alice"), doc("finance"), True),
        ("policy membership is per tenant", who("alice", "globex"), doc("finance", "globex"), False),
        ("token group counts", who("dan", "acme", "finance"), doc("finance"), True),
        ("role via group", who("dan", "acme", "finance"), doc("finance", allow=()), True),
        ("admin implies read", who("root", "acme", "gateway-admins"), doc("anything"), True),
        ("write implies read", who("ed", "acme", "editors"), doc("drafts"), True),
        ("a write deny leaves read alone", who("ed", "acme", "editors", "no-write"), doc("drafts"), True),
        ("tokens never carry roles", who("mallory", "acme", "role:analyst"), doc("finance"), False),
    ],
)
def test_document_read_truth_table(rule: str, principal: Principal, document: DocumentRef, expected: bool) -> None:
    assert SERVICE.can_read(principal, document).allowed is expected, rule
    assert SERVICE.explain(principal, document).allowed is expected, rule
    acl = SERVICE.compile_filter(principal)
    assert acl.matches(document.tenant, document.collection, document.allow, document.deny) is expected, rule


@pytest.mark.parametrize(
    ("rule", "principal", "resource", "action", "expected"),
    [
        ("admin implies write", who("root", "acme", "gateway-admins"), "collection:x", "write", True),
        (
            "write allow does not grant admin",
            who("ed", "acme", "editors"),
            "collection:drafts",
            "admin",
            False,
        ),
        (
            "write deny forbids write",
            who("ed", "acme", "editors", "no-write"),
            "collection:drafts",
            "write",
            False,
        ),
        (
            "read deny forbids write",
            who("q", "acme", "quarantined", "editors"),
            "collection:drafts",
            "write",
            False,
        ),
        (
            "export is implied by nothing",
            who("root", "acme", "gateway-admins"),
            "collection:x",
            "export",
            False,
        ),
        ("unknown action is denied", who("root", "acme", "gateway-admins"), "collection:x", "delete", False),
        ("patterns are not resources", who("root", "acme", "gateway-admins"), "collection:*", "read", False),
    ],
)
def test_action_truth_table(rule: str, principal: Principal, resource: str, action: str, expected: bool) -> None:
    assert SERVICE.decide(principal, resource, action).allowed is expected, rule


SEEDED = PolicyService.from_rules(MODEL, [])
SEEDED.load_seed_if_empty(SEED)


@pytest.mark.parametrize(
    ("groups", "resource", "action", "expected"),
    [
        # Separation of duties: admins ingest anywhere through system:documents, but read no content.
        (("gateway-admins",), "collection:anything", "write", False),
        (("gateway-admins",), "collection:anything", "read", False),
        (("gateway-admins",), "system:documents", "write", True),
        (("gateway-admins",), "system:policies", "admin", True),
        (("gateway-admins",), "system:audit", "read", True),
        (("gateway-admins",), "system:audit", "export", False),
        (("gateway-auditors",), "system:audit", "read", True),
        (("gateway-auditors",), "system:audit", "export", True),
        (("gateway-auditors",), "system:policies", "read", False),
        (("gateway-auditors",), "collection:anything", "read", False),
        ((), "system:audit", "read", False),
    ],
)
def test_seed_policy(groups: tuple[str, ...], resource: str, action: str, expected: bool) -> None:
    for tenant in ("default", "acme"):
        assert SEEDED.decide(who("x", tenant, *groups), resource, action).allowed is expected


def test_explain_names_document_acl_entries() -> None:
    decision = SERVICE.explain(who("bob", "acme", "contractors"), doc("hr", deny=("group:contractors", "user:z")))
    assert decision.allowed is False
    assert decision.rules == ("doc.deny: group:contractors",)


def test_explain_lists_every_deny_when_denied() -> None:
    principal = who("bob", "acme", "staff", "contractors")
    decision = SERVICE.explain(principal, doc("handbook", deny=("user:bob",)))
    assert set(decision.rules) == {
        "p, group:contractors, acme, collection:handbook, read, deny",
        "doc.deny: user:bob",
    }


def test_explain_names_the_allow_when_allowed() -> None:
    decision = SERVICE.explain(who("alice"), doc("finance"))
    assert decision.rules == ("p, role:analyst, acme, collection:finance, read, allow",)


def test_explain_says_why_nothing_matched() -> None:
    assert "another tenant" in SERVICE.explain(who("bob", "globex"), doc("hr")).reason
    assert SERVICE.explain(who("bob"), doc("hr")).rules == ()


def test_expand_follows_policy_links_transitively() -> None:
    assert SERVICE.expand(who("alice")) == {"user:alice", "group:finance", "role:analyst"}
    assert SERVICE.expand(who("alice", "globex")) == {"user:alice"}


def test_expand_stops_where_casbin_stops_on_long_chains() -> None:
    chain = [PolicyRule("g", (f"group:c{i}", f"group:c{i + 1}", "acme")) for i in range(14)]
    grants = [PolicyRule("p", (f"group:c{i}", "acme", f"collection:k{i}", "read", "allow")) for i in range(15)]
    service = PolicyService.from_rules(MODEL, [*chain, *grants])
    principal = who("u", "acme", "c0")
    acl = service.compile_filter(principal)
    for i in range(15):
        document = doc(f"k{i}")
        assert (
            acl.matches(document.tenant, document.collection, (), ()) == service.can_read(principal, document).allowed
        )


@pytest.mark.parametrize("call", ["can_read", "explain"])
def test_an_exception_inside_casbin_is_a_deny(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(casbin.Enforcer, "enforce_ex", explode)
    decision = getattr(SERVICE, call)(who("alice"), doc("finance"))
    assert decision.allowed is False
    assert SERVICE.decide(who("root", "acme", "gateway-admins"), "collection:x", "read").allowed is False


def test_an_exception_inside_a_matcher_function_is_a_deny(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: object) -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(DomainManager, "has_link", explode)
    service = _service()
    assert service.can_read(who("alice"), doc("finance")).allowed is False
