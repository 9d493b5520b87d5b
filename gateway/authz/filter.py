"""The backend-neutral ACL filter compiled from Casbin policy (see ``gateway.authz.compiler``).

A document (chunk) is readable by the principal the filter was compiled for iff::

    doc.tenant == tenant
    and doc.collection not in denied_collections          (and not deny_all)
    and (allowed_collections is ALL or doc.collection in allowed_collections
         or doc.acl_allow ∩ principals)
    and not (doc.acl_deny ∩ principals)

Every retrieval backend must implement exactly this predicate *inside* its search (pre-filter),
and ``matches`` is the reference implementation the conformance suite checks them against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AclFilter:
    """What one principal may read in one tenant."""

    tenant: str
    principals: frozenset[str]
    """Expanded principal set: ``user:``, token ``group:``s, and groups/roles added by policy."""
    allowed_collections: frozenset[str] | None
    """Collections readable through a grant; ``None`` means every collection (a ``*`` grant)."""
    denied_collections: frozenset[str] = frozenset()
    deny_all: bool = False
    """A deny on every collection: nothing is readable."""

    def matches(self, tenant: str, collection: str, acl_allow: Iterable[str], acl_deny: Iterable[str]) -> bool:
        """Reference predicate: does a document with these fields pass the filter?"""
        if self.deny_all or tenant != self.tenant or collection in self.denied_collections:
            return False
        if not self.principals.isdisjoint(acl_deny):
            return False
        if self.allowed_collections is None or collection in self.allowed_collections:
            return True
        return not self.principals.isdisjoint(acl_allow)

    @property
    def sees_nothing(self) -> bool:
        return self.deny_all
