"""Who may administer which tenant: the tenant model of policy administration.

A rule belongs to one tenant (its domain) or to every tenant (``*``). A caller administers rules of
its own token tenant only, with ``system:policies`` rights there. The single exception is a
deliberately configured platform tenant (``GATEWAY_PLATFORM_TENANT``, unset by default): its members
act in another tenant, or on ``*`` rules, with whatever rights policy gives them *in that tenant*
(or in ``*``). Group names in tokens are not tenant-namespaced, so a ``*`` link such as the seed's
``g, group:gateway-admins, role:admin, *`` makes every tenant's own ``gateway-admins`` group admin
of its own tenant, and never of another one.
"""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.authz.rules import ANY_TENANT, PolicyRule, is_valid_tenant
from gateway.errors import InvalidRequest


def rule_tenant(rule: PolicyRule) -> str:
    """The tenant a rule belongs to: ``p``'s second field, ``g``'s third (``*`` = every tenant)."""
    index = 1 if rule.ptype == "p" else 2
    if len(rule.fields) <= index:
        raise InvalidRequest("the rule names no tenant")
    return rule.fields[index]


def check_tenant(tenant: str) -> str:
    """``tenant`` if it is a concrete tenant name or ``*``; 400 otherwise."""
    if tenant != ANY_TENANT and not is_valid_tenant(tenant):
        raise InvalidRequest("tenant must be a tenant name or '*'")
    return tenant


def acting_in(actor: Principal, target: str, platform_tenant: str | None) -> Principal | None:
    """The principal whose rights in ``target`` decide an administrative request, or ``None`` when
    the actor may not act in ``target`` at all (another tenant, and not a platform administrator)."""
    if target == actor.tenant:
        return actor
    if platform_tenant is not None and actor.tenant == platform_tenant:
        return Principal(actor.subject, target, actor.groups)
    return None
