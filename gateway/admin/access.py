"""Who can read what: the what-if of a policy edit and "what can this user see", both computed with
the retrieval filter compiler (``gateway.authz.compiler``), so they show exactly what ``/v1/search``
would do under the edited policy.

The people considered are the ones the gateway knows in the tenant: every subject of the tenant's
audit trail (with the groups its latest row recorded), every ``user:`` a rule names, and every
``group:`` a rule or a document ACL names (as "any member of the group").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.admin.scope import AdminScope
from gateway.audit.models import AUDIT_TABLE as A
from gateway.auth.principal import Principal
from gateway.authz.compiler import compile_filter
from gateway.authz.filter import AclFilter
from gateway.authz.rules import PolicyRule, validate_rule
from gateway.authz.snapshot import PolicySnapshot
from gateway.authz.tenancy import rule_tenant
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.ingest.models import DocumentRow

D: Table = DocumentRow.__table__  # type: ignore[assignment]
RECENT_AUDIT_ROWS = 5000
"""Subjects are taken from this many newest audit rows of the tenant."""


@dataclass(frozen=True)
class Doc:
    document_id: str
    title: str
    collection: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]


@dataclass
class Change:
    """What one principal gains and loses."""

    who: str
    gained: list[Doc] = field(default_factory=list)
    lost: list[Doc] = field(default_factory=list)
    gained_collections: list[str] = field(default_factory=list)
    lost_collections: list[str] = field(default_factory=list)


@dataclass
class WhatIf:
    rule: PolicyRule
    op: Literal["add", "remove"]
    applies: bool
    """False when the edit changes nothing (adding a rule that exists, removing one that does not)."""
    changes: list[Change]
    people_checked: int
    documents_checked: int


class AccessReport:
    """Reads documents and known people of one tenant; decides with the compiler."""

    def __init__(self, engine: Engine, model_path: Path) -> None:
        self._engine = engine
        self._model_path = model_path

    def documents(self, tenant: str) -> list[Doc]:
        query = select(D.c.document_id, D.c.title, D.c.collection, D.c.acl).where(
            D.c.tenant == tenant, D.c.status == "indexed"
        )
        rows = self._rows(query)
        return [
            Doc(r.document_id, r.title, r.collection, tuple((r.acl or {}).get("allow", ())),
                tuple((r.acl or {}).get("deny", ())))
            for r in rows
        ]  # fmt: skip

    def people(self, tenant: str, rules: Sequence[PolicyRule], docs: Sequence[Doc]) -> list[Principal]:
        query = (
            select(A.c.subject, A.c.groups)
            .where(A.c.tenant == tenant)
            .order_by(A.c.sequence.desc())
            .limit(RECENT_AUDIT_ROWS)
        )
        rows = self._rows(query)
        seen: dict[str, Principal] = {}
        for subject, groups in rows:
            if subject not in seen and not subject.startswith(("cli:", "system")):
                seen[subject] = Principal(subject, tenant, frozenset(groups or ()))
        names = {f for rule in rules for f in rule.fields} | {p for d in docs for p in (*d.allow, *d.deny)}
        for name in sorted(names):
            if name.startswith("user:") and name[5:] not in seen:
                seen[name[5:]] = Principal(name[5:], tenant)
        groups = sorted(n[6:] for n in names if n.startswith("group:"))
        members = [Principal(f"any member of group:{g}", tenant, frozenset({g})) for g in groups]
        return [*sorted(seen.values(), key=lambda p: p.subject), *members]

    def what_if(self, scope: AdminScope, rule: PolicyRule, op: Literal["add", "remove"]) -> WhatIf:
        """The effect of adding or removing ``rule`` in the scope's tenant, before anything is saved.

        Raises:
            InvalidRequest: a malformed rule, or one of another tenant.
        """
        validate_rule(rule)
        if rule_tenant(rule) != scope.tenant:
            raise InvalidRequest("the rule belongs to another tenant than yours")
        current = scope.view.rules()
        exists = rule in current
        edited = [r for r in current if r != rule] if op == "remove" else [*current, *([] if exists else [rule])]
        after = PolicySnapshot(
            self._model_path, edited, scope.view.version + 1, restricted_readers=scope.view.snapshot.restricted_readers
        )
        docs = self.documents(scope.tenant)
        people = self.people(scope.tenant, [*current, rule], docs)
        changes = []
        for person in people:
            change = _compare(person, compile_filter(scope.view.snapshot, person), compile_filter(after, person), docs)
            if change.gained or change.lost or change.gained_collections or change.lost_collections:
                changes.append(change)
        applies = (op == "add") != exists
        return WhatIf(rule, op, applies, changes, len(people), len(docs))

    def visible_counts(self, scope: AdminScope, who: Principal) -> dict[str, tuple[int, int]]:
        """Per collection: (documents ``who`` can read, documents there), as retrieval filters them."""
        flt = scope.view.compile_filter(who)
        total: Counter[str] = Counter()
        visible: Counter[str] = Counter()
        for doc in self.documents(scope.tenant):
            total[doc.collection] += 1
            visible[doc.collection] += _sees(flt, doc)
        return {c: (visible[c], total[c]) for c in sorted(total)}

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            raise ServiceUnavailable("Database unavailable", code="database_unavailable") from exc


def _sees(flt: AclFilter, doc: Doc) -> bool:
    return flt.matches(flt.tenant, doc.collection, doc.allow, doc.deny)


def _compare(person: Principal, before: AclFilter, after: AclFilter, docs: Sequence[Doc]) -> Change:
    change = Change(who=person.subject if " " in person.subject else f"user:{person.subject}")
    for doc in docs:
        was, now = _sees(before, doc), _sees(after, doc)
        if now and not was:
            change.gained.append(doc)
        elif was and not now:
            change.lost.append(doc)
    collections = sorted({d.collection for d in docs})
    for c in collections:
        was = (
            not before.deny_all
            and c not in before.denied_collections
            and (before.allowed_collections is None or c in before.allowed_collections)
        )
        now = (
            not after.deny_all
            and c not in after.denied_collections
            and (after.allowed_collections is None or c in after.allowed_collections)
        )
        if now and not was:
            change.gained_collections.append(c)
        elif was and not now:
            change.lost_collections.append(c)
    return change


def policy_history(engine: Engine, tenant: str, limit: int = 50) -> list[dict[str, Any]]:
    """The tenant's committed policy changes, newest first (the audit rows of ``policy.add``/``remove``)."""
    query = (
        select(A.c.sequence, A.c.occurred_at, A.c.subject, A.c.action, A.c.policy_version, A.c.details)
        .where(A.c.tenant == tenant, A.c.action.in_(("policy.add", "policy.remove")), A.c.status == "ok")
        .order_by(A.c.sequence.desc())
        .limit(limit)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    except SQLAlchemyError as exc:
        raise ServiceUnavailable("Database unavailable", code="database_unavailable") from exc
    return [dict(r) for r in rows if (r["details"] or {}).get("changed")]
