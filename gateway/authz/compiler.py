"""Compile the Casbin policy into the backend-neutral :class:`AclFilter` for one principal.

The filter is a second reading of the same rules the enforcer reads, specialised to "read a
document in the caller's tenant". It must agree with ``PolicyService.can_read`` on every document;
``tests/unit/test_authz_filter_property.py`` checks that on thousands of generated cases.

How each model clause becomes a filter clause:

* ``sameTenant``: ``AclFilter.tenant`` is the principal's tenant.
* ``member`` / ``g`` with ``*`` domains: ``principals`` is the expanded principal set.
* collection allow lines (read or stronger, this tenant or ``*``): ``allowed_collections``
  (``collection:*`` gives ``None``, every collection).
* collection deny lines that forbid read (a deny of ``read``; a deny of ``write`` or ``admin``
  leaves reading alone): ``denied_collections``, or ``deny_all`` for ``collection:*``.
* the built-in ``doc:allow`` / ``doc:deny`` lines: the predicate's ``acl_allow`` / ``acl_deny``
  intersections with ``principals``.
"""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.authz.filter import AclFilter
from gateway.authz.functions import action_match
from gateway.authz.rules import ALL_COLLECTIONS, ANY_TENANT
from gateway.authz.snapshot import PolicySnapshot

_COLLECTION = "collection:"


def compile_filter(snapshot: PolicySnapshot, principal: Principal) -> AclFilter:
    """What ``principal`` may read in its tenant, according to ``snapshot``."""
    tenant = principal.tenant
    principals = snapshot.expand(principal)
    allowed: set[str] = set()
    every_collection = False
    denied: set[str] = set()
    deny_all = False
    for rule in snapshot.grants():
        sub, dom, obj, act, eft = rule.fields
        if sub not in principals or dom not in (tenant, ANY_TENANT) or not obj.startswith(_COLLECTION):
            continue
        if not action_match(act, eft, "read"):
            continue
        if eft == "deny":
            deny_all = deny_all or obj == ALL_COLLECTIONS
            denied.add(obj.removeprefix(_COLLECTION))
        elif obj == ALL_COLLECTIONS:
            every_collection = True
        else:
            allowed.add(obj.removeprefix(_COLLECTION))
    denied.discard("*")
    return AclFilter(
        tenant=tenant,
        principals=principals,
        allowed_collections=None if every_collection else frozenset(allowed - denied),
        denied_collections=frozenset(denied),
        deny_all=deny_all,
    )
