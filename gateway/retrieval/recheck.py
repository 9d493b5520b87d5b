"""The re-check every hit passes before anything is built from it, the same for every backend.

A backend's hits carry copies (tenant, collection, version, ACL) made when the chunk was indexed. A
copy can be stale: an old version whose delete failed in OpenSearch, chunks of a document deleted
since, an index that diverged from the registry. So each hit is judged against the document's
*current* record in the registry (what is really searchable, at which version, with which ACL) and
the request's one policy view:

* the hit fails the request's own filter or scope → ``filter_recheck_mismatch`` (a backend bug);
* the registry has no searchable record, or another committed version → ``stale_chunk``;
* the hit is a version being written right now (assigned, not yet committed with its audit row)
  → ``uncommitted`` (expected for milliseconds during an update; dropped quietly);
* the document is being deleted → ``deleting`` (dropped quietly);
* Casbin denies reading the current record → ``filter_recheck_mismatch``.

Every drop is counted; the first two and the last are security events (logged, metric). A mismatch
drops the hit and never fails the request: a 503 would let one stale chunk deny service to every
question that retrieves it, while dropping it already keeps it away from the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gateway.auth.principal import Principal
from gateway.authz.decision import DocumentRef
from gateway.authz.filter import AclFilter
from gateway.authz.view import PolicyView
from gateway.retrieval.base import Hit

SECURITY_EVENTS = frozenset({"filter_recheck_mismatch", "stale_chunk"})


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the registry says about one document now."""

    document_id: str
    version: int
    """The committed, searchable version (0 when none was ever committed)."""
    assigned_version: int
    """The highest version handed out; above ``version`` while a write is in flight."""
    status: str
    collection: str
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    updated_at: datetime | None = None
    """When the source says the document was last updated (generators prefer the newest)."""


class DocumentStates(Protocol):
    """The registry, as the re-check reads it: one query for all the hits of a request."""

    def states(self, tenant: str, document_ids: Collection[str]) -> Mapping[str, DocumentState]: ...


@dataclass(frozen=True, slots=True)
class Recheck:
    """The hits that passed and why the others were dropped."""

    kept: list[Hit]
    dropped: list[tuple[Hit, str]] = field(default_factory=list)
    dates: dict[str, datetime] = field(default_factory=dict)
    """Document id → ``updated_at`` of the kept hits' documents, where known."""


def recheck(
    hits: Sequence[Hit],
    *,
    principal: Principal,
    view: PolicyView,
    acl: AclFilter,
    scope: frozenset[str] | None,
    states: DocumentStates,
) -> Recheck:
    """Keep the hits that the registry and the policy view both vouch for (see the module doc)."""
    current = states.states(principal.tenant, {h.document_id for h in hits}) if hits else {}
    kept: list[Hit] = []
    dropped: list[tuple[Hit, str]] = []
    for hit in hits:
        problem = _problem(hit, principal, view, acl, scope, current.get(hit.document_id))
        if problem is None:
            kept.append(hit)
        else:
            dropped.append((hit, problem))
    kept_ids = {h.document_id for h in kept}
    dates = {d: s.updated_at for d, s in current.items() if d in kept_ids and s.updated_at is not None}
    return Recheck(kept, dropped, dates)


def _problem(
    hit: Hit,
    principal: Principal,
    view: PolicyView,
    acl: AclFilter,
    scope: frozenset[str] | None,
    state: DocumentState | None,
) -> str | None:
    outside = not acl.matches(hit.tenant, hit.collection, hit.acl_allow, hit.acl_deny) or (
        scope is not None and hit.collection not in scope
    )
    if outside:
        return "filter_recheck_mismatch"
    problem = _registry_problem(hit, state)
    if problem is not None or state is None:
        return problem or "stale_chunk"
    ref = DocumentRef(principal.tenant, state.collection, state.allow, state.deny, state.document_id)
    return None if view.can_read(principal, ref).allowed else "filter_recheck_mismatch"


def _registry_problem(hit: Hit, state: DocumentState | None) -> str | None:
    """Is this hit the committed, searchable version the registry names?"""
    if state is None:
        return "stale_chunk"
    if state.version < hit.version <= state.assigned_version:
        return "uncommitted"
    if state.status == "deleting":
        return "deleting"
    if state.status != "indexed" or state.version != hit.version:
        return "stale_chunk"
    return None
