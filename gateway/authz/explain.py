"""Explanations: which policy lines (and which document ACL entries) decided a request."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.auth.principal import Principal
from gateway.authz.decision import Decision
from gateway.authz.functions import Resource
from gateway.authz.rules import DOC_ALLOW, DOC_DENY, PolicyRule
from gateway.authz.snapshot import PolicySnapshot

log = logging.getLogger(__name__)


def describe(
    snapshot: PolicySnapshot, principal: Principal, resource: Resource, line: Sequence[str]
) -> tuple[str, ...]:
    """One matched line as text; the built-in document ACL lines become the entries that matched."""
    if line and line[0] in (DOC_ALLOW, DOC_DENY):
        entries = resource.allow if line[0] == DOC_ALLOW else resource.deny
        label = "doc.allow" if line[0] == DOC_ALLOW else "doc.deny"
        principals = snapshot.expand(principal)
        return tuple(f"{label}: {entry}" for entry in entries if entry in principals)
    return (str(PolicyRule("p", tuple(line))),)


def explain_lines(
    snapshot: PolicySnapshot, principal: Principal, resource: Resource, action: str, allowed: bool
) -> Decision:
    """Every line that matched, grouped by the effect that decided. ``allowed`` is Casbin's answer."""
    matched = snapshot.matching_lines(principal, resource, action)
    denies = [rule for rule in matched if rule.effect == "deny"]
    allows = [rule for rule in matched if rule.effect == "allow"]
    deciding = allows if allowed else denies
    rules = tuple(text for rule in deciding for text in describe(snapshot, principal, resource, rule.fields))
    if allowed != (bool(allows) and not denies):
        log.error("explanation disagrees with the enforcer; reporting the enforcer's decision")
    if allowed:
        reason = f"allowed by {len(rules)} rule(s); no rule denies"
    elif denies:
        reason = f"denied by {len(rules)} deny rule(s); deny wins over allow"
    elif resource.tenant != principal.tenant:
        reason = "the document belongs to another tenant"
    else:
        reason = f"no rule allows {action} on {resource.name}"
    return Decision(allowed, rules, reason)
