"""``/v1/admin``: policy administration, access explain and audit search (policy-guarded)."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody

from gateway.api.schemas import ExplainIn, ExplainOut, PolicyRuleIn
from gateway.api.security import authenticate, require, services_of
from gateway.api.v1 import audit_change
from gateway.auth.principal import Principal
from gateway.authz.service import PolicyRule
from gateway.errors import NotFound
from gateway.ingest.service import document_ref

AuthedRequest = Request[Principal, Any, State]


class AdminController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/admin"
    tags = ("admin",)

    @get("/policies", sync_to_thread=True)
    def list_policies(self, request: AuthedRequest) -> dict[str, Any]:
        services = services_of(request)
        require(services, request.user, "system:policies", "read")
        rules = services.policy.list_rules()
        return {
            "version": services.policy.version,
            "rules": [{"ptype": r.ptype, "rule": list(r.fields)} for r in rules],
        }

    @post("/policies", sync_to_thread=True, status_code=201)
    def add_policy(self, request: AuthedRequest, data: JSONBody[PolicyRuleIn]) -> dict[str, Any]:
        return _change_policy(request, data, "add")

    @delete("/policies", sync_to_thread=True, status_code=200)
    def remove_policy(self, request: AuthedRequest, data: JSONBody[PolicyRuleIn]) -> dict[str, Any]:
        return _change_policy(request, data, "remove")

    @post("/explain", sync_to_thread=True, status_code=200)
    def explain(self, request: AuthedRequest, data: JSONBody[ExplainIn]) -> ExplainOut:
        """Why would ``subject`` (with ``groups``) be allowed or denied this document?"""
        services = services_of(request)
        tenant = data.tenant or request.user.tenant
        # The caller needs policy read *in the tenant asked about*: a tenant-scoped admin must not
        # explain (and so probe) another tenant's documents.
        caller = Principal(request.user.subject, tenant, request.user.groups)
        require(services, caller, "system:policies", "read")
        who = Principal(subject=data.subject, tenant=tenant, groups=frozenset(data.groups))
        row = services.documents.find(tenant, data.document_id)
        if row is None:
            raise NotFound("no such document")
        decision = services.policy.explain(who, document_ref(row))
        return ExplainOut(
            allowed=decision.allowed,
            decision="allow" if decision.allowed else "deny",
            rules=list(decision.rules),
            reason=decision.reason,
            principals=sorted(services.policy.expand(who)),
            document_id=row.document_id,
            policy_version=services.policy.version,
        )

    @get("/audit", sync_to_thread=True)
    def audit_search(
        self,
        request: AuthedRequest,
        subject: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
        before: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        """Recent audit rows of the caller's tenant (auditors and admins)."""
        services = services_of(request)
        require(services, request.user, "system:audit", "read")
        rows = services.audit.search(
            tenant=request.user.tenant,
            subject=subject,
            kind=kind,
            limit=max(1, min(limit, 500)),
            before_sequence=before,
        )
        return {"rows": rows}

    @post("/audit/verify", sync_to_thread=True, status_code=200)
    def audit_verify(self, request: AuthedRequest) -> dict[str, Any]:
        services = services_of(request)
        require(services, request.user, "system:audit", "read")
        result = services.audit.verify()
        return {
            "ok": result.ok,
            "rows_checked": result.rows_checked,
            "first_bad_sequence": result.first_bad_sequence,
            "problem": result.problem,
        }


def _change_policy(request: AuthedRequest, data: PolicyRuleIn, op: Literal["add", "remove"]) -> dict[str, Any]:
    """Add or remove one rule (admin on ``system:policies``); audited before the response leaves."""
    services = services_of(request)
    require(services, request.user, "system:policies", "admin")
    rule = PolicyRule(ptype=data.ptype, fields=tuple(data.rule))
    apply = services.policy.add_rule if op == "add" else services.policy.remove_rule
    changed = apply(rule, actor=request.user.user_principal)
    audit_change(
        services, request.user, f"policy.{op}", {"ptype": rule.ptype, "rule": list(rule.fields), "changed": changed}
    )
    return {"added" if op == "add" else "removed": changed, "version": services.policy.version}
