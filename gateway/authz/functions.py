"""Request objects and the custom matcher functions of ``policies/model.conf``.

Casbin evaluates the matcher with simpleeval, once per policy line; these functions receive the
request objects as they are (no attribute access happens in the matcher itself). Each function
answers ``False`` on anything unexpected: an error must never widen access, and the enforcer's
caller turns any exception into a deny as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.authz.rules import ACTION_RANK, ALL_COLLECTIONS


@dataclass(frozen=True, slots=True)
class Subject:
    """``r.sub``: the principal strings the token vouches for (before policy expansion)."""

    base: frozenset[str]

    def __str__(self) -> str:
        return ",".join(sorted(self.base))


@dataclass(frozen=True, slots=True)
class Resource:
    """``r.obj``: what is asked for. Documents also carry their own ACL lists."""

    tenant: str
    name: str
    """``collection:<name>`` or ``system:<name>``."""
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.tenant}/{self.name}"


def action_match(policy_action: str, effect: str, requested: str) -> bool:
    """Does a line with this action and effect speak about the requested action?

    An allow of ``admin`` grants ``write`` and ``read``; a deny of ``read`` forbids ``write`` and
    ``admin`` too (what you may not read you may not change). ``export`` matches only itself.
    """
    if policy_action == requested:
        return True
    granted, asked = ACTION_RANK.get(policy_action), ACTION_RANK.get(requested)
    if granted is None or asked is None:
        return False
    return granted > asked if effect == "allow" else granted < asked


def resource_match(resource: Resource, pattern: str) -> bool:
    """``collection:*`` covers every collection; everything else matches by equality."""
    if pattern == ALL_COLLECTIONS:
        return resource.name.startswith("collection:")
    return resource.name == pattern


HasLink = Callable[[str, str, str], bool]


def make_functions(has_link: HasLink) -> dict[str, Callable[..., bool]]:
    """The matcher functions, bound to one enforcer's role manager (``has_link(member, role, dom)``)."""

    def member(sub: Subject, name: str, dom: str) -> bool:
        return any(base == name or has_link(base, name, dom) for base in sub.base)

    def doc_allows(sub: Subject, obj: Resource, dom: str) -> bool:
        return any(member(sub, entry, dom) for entry in obj.allow)

    def doc_denies(sub: Subject, obj: Resource, dom: str) -> bool:
        return any(member(sub, entry, dom) for entry in obj.deny)

    def same_tenant(obj: Resource, dom: str) -> bool:
        return isinstance(obj, Resource) and obj.tenant == dom

    return {
        "member": _strict(member),
        "docAllows": _strict(doc_allows),
        "docDenies": _strict(doc_denies),
        "sameTenant": _strict(same_tenant),
        "resourceMatch": _strict(resource_match),
        "actionMatch": _strict(action_match),
    }


def _strict(fn: Callable[..., Any]) -> Callable[..., bool]:
    """Only a real ``True`` counts as a match."""

    def wrapper(*args: Any) -> bool:
        return fn(*args) is True

    wrapper.__name__ = getattr(fn, "__name__", "fn")
    return wrapper
