"""Every decision of one request, taken on one policy snapshot.

A request takes one :class:`PolicyView` at its start and passes it down: the retrieval filter, each
re-check, every write check and the ``policy_version`` of its audit row then all come from the same
policy, even when a reload lands in the middle of the request.
"""

from __future__ import annotations

import logging

from gateway.auth.principal import Principal
from gateway.authz.compiler import compile_filter
from gateway.authz.decision import Decision, DocumentRef
from gateway.authz.explain import describe, explain_lines
from gateway.authz.filter import AclFilter
from gateway.authz.functions import Resource
from gateway.authz.rules import ACTIONS, PolicyRule, is_valid_resource
from gateway.authz.snapshot import PolicySnapshot

log = logging.getLogger("gateway.authz")

_EVALUATION_FAILED = Decision(False, (), "policy evaluation failed (denied)")
NOT_READABLE = Decision(False, (), "the caller may not read the existing document")
"""What ``may_change_document`` answers for a document the caller cannot read: answer it like an
absent id (404), never 403, so the refusal tells nothing about the document."""


class PolicyView:
    """Read-only decisions on one loaded policy version. Any exception inside Casbin is a deny."""

    def __init__(self, snapshot: PolicySnapshot) -> None:
        self._snapshot = snapshot

    @property
    def snapshot(self) -> PolicySnapshot:
        """The loaded enforcer this view decides on (for tests and benchmarks)."""
        return self._snapshot

    @property
    def version(self) -> int:
        """The policy version every decision of this view is taken on."""
        return self._snapshot.version

    def rules(self) -> list[PolicyRule]:
        """The stored rules of this version (built-in document ACL lines excluded)."""
        return list(self._snapshot.rules)

    def expand(self, principal: Principal) -> frozenset[str]:
        """Base principals plus every group and role reachable through ``g`` lines in the tenant."""
        return self._snapshot.expand(principal)

    def compile_filter(self, principal: Principal) -> AclFilter:
        """The retrieval pre-filter for ``principal``; a compiler error lets the caller see nothing."""
        try:
            return compile_filter(self._snapshot, principal)
        except Exception:
            log.exception("filter compilation failed; the caller sees nothing")
            return AclFilter(principal.tenant, principal.base_principals(), frozenset(), deny_all=True)

    def can_read(self, principal: Principal, doc: DocumentRef) -> Decision:
        """Casbin's decision on reading one document (its collection and its own ACL)."""
        return self._enforce(principal, _document(doc), "read", explain=False)

    def explain(self, principal: Principal, doc: DocumentRef) -> Decision:
        """``can_read`` with every deciding line, document ACL entries named (``doc.deny: group:x``)."""
        return self._enforce(principal, _document(doc), "read", explain=True)

    def decide(self, principal: Principal, resource: str, action: str) -> Decision:
        """May ``principal`` do ``action`` on ``resource`` (``collection:hr``, ``system:audit`` ...)?"""
        if action not in ACTIONS or not is_valid_resource(resource) or resource.endswith("*"):
            return Decision(False, (), f"unknown resource or action: {resource[:100]} {action[:20]}")
        return self._enforce(principal, Resource(principal.tenant, resource), action, explain=False)

    def may_write_collection(self, principal: Principal, collection: str) -> Decision:
        """Write into ``collection``: a write grant on it, else ``system:documents`` write, unless a
        deny line forbids writing there (deny beats the ``system:documents`` allow as well)."""
        return self._write(principal, Resource(principal.tenant, f"collection:{collection}"))

    def may_change_document(self, principal: Principal, doc: DocumentRef) -> Decision:
        """Overwrite or delete an existing document: the caller must be able to *read* it (else the
        answer is the same 404 as for an absent id) and write it, its own ACL included: a document's
        deny list forbids writing as it forbids reading."""
        if not self.can_read(principal, doc).allowed:
            return NOT_READABLE
        return self._write(principal, _document(doc))

    def _write(self, principal: Principal, resource: Resource) -> Decision:
        direct = self._enforce(principal, resource, "write", explain=False)
        if direct.allowed or direct.denied:
            return direct
        system = Resource(principal.tenant, "system:documents")
        return self._enforce(principal, system, "write", explain=False)

    def _enforce(self, principal: Principal, resource: Resource, action: str, *, explain: bool) -> Decision:
        snapshot = self._snapshot
        try:
            allowed, line = snapshot.enforce(principal, resource, action)
            if explain:
                return explain_lines(snapshot, principal, resource, action, allowed)
            rules = describe(snapshot, principal, resource, line) if line else ()
            return Decision(allowed, rules, _reason(allowed, line), denied=not allowed and bool(line))
        except Exception:
            log.exception("policy evaluation raised; denying")
            return _EVALUATION_FAILED


def _document(doc: DocumentRef) -> Resource:
    return Resource(doc.tenant, f"collection:{doc.collection}", tuple(doc.allow), tuple(doc.deny))


def _reason(allowed: bool, line: list[str]) -> str:
    if allowed:
        return "allowed by policy"
    if line:
        return "denied by a deny rule"
    return "no rule allows this"
