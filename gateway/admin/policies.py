"""Policy administration: list, add and remove rules of one tenant, each change committed with its row."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from gateway.admin.scope import AdminScope
from gateway.audit.log import AuditLog
from gateway.authz.rules import PolicyRule, validate_rule
from gateway.authz.service import PolicyService
from gateway.authz.tenancy import rule_tenant
from gateway.errors import AuditUnavailable, GatewayError, InvalidRequest

log = logging.getLogger("gateway.admin")


class PolicyAdmin:
    """The route guard has checked ``system:policies`` rights in the scope's tenant."""

    def __init__(self, policy: PolicyService, audit: AuditLog) -> None:
        self._policy = policy
        self._audit = audit

    def rules(self, scope: AdminScope) -> list[PolicyRule]:
        """The rules of the scope's tenant (``*``: the rules that apply in every tenant)."""
        return [rule for rule in scope.view.rules() if rule_tenant(rule) == scope.tenant]

    def change(
        self,
        scope: AdminScope,
        rule: PolicyRule,
        op: Literal["add", "remove"],
        note: Mapping[str, object] | None = None,
    ) -> bool:
        """Apply and audit in one transaction: no change without its row, no row without its change.

        A malformed rule is refused (400) with a ``refused`` row; a store failure leaves a
        ``failed`` row when the audit store is up. ``note`` joins the row's details (the console
        records ``via`` and ``rollback_of``).
        """
        action = f"policy.{op}"
        details: dict[str, object] = {**(note or {}), "ptype": rule.ptype, "rule": list(rule.fields)}
        try:
            validate_rule(rule)
            if rule_tenant(rule) != scope.tenant:  # the guard derived the scope from this very rule
                raise InvalidRequest("the rule belongs to another tenant than the request")
        except InvalidRequest:
            self._audit.append(scope.record(kind="admin", status="refused", action=action, details=details))
            raise
        apply = self._policy.add_rule if op == "add" else self._policy.remove_rule
        try:
            with self._audit.transaction() as tx:
                changed = apply(rule, actor=scope.actor.user_principal, connection=tx.connection)
                tx.append(
                    scope.record(kind="admin", status="ok", action=action, details={**details, "changed": changed})
                )
        except AuditUnavailable:
            raise
        except GatewayError as exc:
            self._failed(scope, action, details, exc)
            raise
        self._policy.refresh()
        return changed

    def _failed(self, scope: AdminScope, action: str, details: dict[str, object], exc: GatewayError) -> None:
        try:
            self._audit.append(
                scope.record(kind="admin", status="failed", action=action, details={**details, "error": exc.code})
            )
        except AuditUnavailable:
            log.error("a failed policy change could not be audited either")
