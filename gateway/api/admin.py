"""``/v1/admin``: policy administration, access explain and the audit trail.

Every route declares what it needs with ``requires(resource, action, tenant_of=...)``: the right is
checked in the tenant the request is about (a rule's own tenant, the ``tenant`` query parameter, the
explained document's tenant), refusals are audited in that tenant, and the handler receives the
resulting ``AdminScope`` by injection.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter

from gateway.admin.audit_trail import AuditTrail
from gateway.admin.explain import AccessExplain
from gateway.admin.policies import PolicyAdmin
from gateway.admin.scope import AdminScope
from gateway.api.body import decode_strict
from gateway.api.schemas import ExplainIn, ExplainOut, PolicyRuleIn
from gateway.api.security import Connection, authenticate, own_tenant, query_tenant, requires
from gateway.audit.log import MAX_SEARCH_LIMIT
from gateway.authz.rules import PolicyRule
from gateway.authz.tenancy import rule_tenant
from gateway.errors import InvalidRequest
from gateway.ingest.service import DocumentService

MAX_SEQUENCE = 2**63 - 1
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_SEARCH_LIMIT)]
Sequence = Annotated[int | None, QueryParameter(ge=1, le=MAX_SEQUENCE)]


async def _rule_tenant(connection: Connection) -> str:
    body = await decode_strict(_request(connection), PolicyRuleIn)
    return rule_tenant(PolicyRule(body.ptype, tuple(body.rule)))


async def _explain_tenant(connection: Connection) -> str:
    body = await decode_strict(_request(connection), ExplainIn)
    return body.tenant if body.tenant is not None else await own_tenant(connection)


def _request(connection: Connection) -> Request[Any, Any, Any]:
    if not isinstance(connection, Request):  # pragma: no cover - guards of HTTP routes get the Request
        raise InvalidRequest("a request body is required")
    return connection


class AdminController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/admin"
    tags = ("admin",)

    @get(
        "/policies",
        sync_to_thread=True,
        guards=[requires("system:policies", "read", audit_action="policy.list", tenant_of=query_tenant())],
    )
    def list_policies(
        self,
        admin: NamedDependency[AdminScope],
        policy_admin: NamedDependency[PolicyAdmin],
        tenant: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """The rules of one tenant (``?tenant=``, default the caller's; ``*``: rules for every tenant)."""
        rules = policy_admin.rules(admin)
        return {
            "tenant": admin.tenant,
            "version": admin.view.version,
            "rules": [{"ptype": r.ptype, "rule": list(r.fields)} for r in rules],
        }

    @post(
        "/policies",
        sync_to_thread=True,
        status_code=201,
        guards=[requires("system:policies", "admin", audit_action="policy.add", tenant_of=_rule_tenant)],
    )
    def add_policy(
        self,
        data: JSONBody[PolicyRuleIn],
        admin: NamedDependency[AdminScope],
        policy_admin: NamedDependency[PolicyAdmin],
    ) -> dict[str, Any]:
        """Add a rule; needs ``system:policies`` admin in the rule's own tenant."""
        return _change(data, admin, policy_admin, "add")

    @delete(
        "/policies",
        sync_to_thread=True,
        status_code=200,
        guards=[requires("system:policies", "admin", audit_action="policy.remove", tenant_of=_rule_tenant)],
    )
    def remove_policy(
        self,
        data: JSONBody[PolicyRuleIn],
        admin: NamedDependency[AdminScope],
        policy_admin: NamedDependency[PolicyAdmin],
    ) -> dict[str, Any]:
        """Remove a rule; needs ``system:policies`` admin in the rule's own tenant."""
        return _change(data, admin, policy_admin, "remove")

    @post(
        "/explain",
        sync_to_thread=True,
        status_code=200,
        guards=[requires("system:policies", "read", audit_action="policy.explain", tenant_of=_explain_tenant)],
    )
    def explain(
        self, data: JSONBody[ExplainIn], admin: NamedDependency[AdminScope], documents: NamedDependency[DocumentService]
    ) -> ExplainOut:
        """Why would ``subject`` (with ``groups``) be allowed or denied this document?"""
        service = AccessExplain(documents, documents.audit)
        result = service.explain(admin, service.principal(admin, data.subject, data.groups), data.document_id)
        return ExplainOut(
            allowed=result.allowed,
            decision="allow" if result.allowed else "deny",
            rules=list(result.rules),
            reason=result.reason,
            principals=list(result.principals),
            document_id=result.document_id,
            policy_version=result.policy_version,
        )

    @get(
        "/audit",
        sync_to_thread=True,
        guards=[requires("system:audit", "read", kind="read", audit_action="audit.read", tenant_of=query_tenant())],
    )
    def audit_search(
        self,
        admin: NamedDependency[AdminScope],
        audit_trail: NamedDependency[AuditTrail],
        tenant: FromQuery[str | None] = None,
        subject: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        limit: Limit = 50,
        before: Sequence = None,
    ) -> dict[str, Any]:
        """Newest audit rows of one tenant. Question, answer and citation titles only for
        ``system:audit-content`` readers; metadata for the rest. The read itself is audited."""
        return {"rows": audit_trail.search(admin, subject=subject, kind=kind, limit=limit, before=before)}

    @post(
        "/audit/verify",
        sync_to_thread=True,
        status_code=200,
        guards=[requires("system:audit", "read", kind="read", audit_action="audit.verify")],
    )
    def audit_verify(
        self, admin: NamedDependency[AdminScope], audit_trail: NamedDependency[AuditTrail]
    ) -> dict[str, Any]:
        result = audit_trail.verify(admin)
        return {
            "ok": result.ok,
            "rows_checked": result.rows_checked,
            "first_bad_sequence": result.first_bad_sequence,
            "problem": result.problem,
            "anchors_checked": result.anchors_checked,
            "last_anchor_sequence": result.last_anchor_sequence,
            "unanchored_rows": result.unanchored_rows,
        }


def _change(
    data: PolicyRuleIn, admin: AdminScope, policy_admin: PolicyAdmin, op: Literal["add", "remove"]
) -> dict[str, Any]:
    changed = policy_admin.change(admin, PolicyRule(ptype=data.ptype, fields=tuple(data.rule)), op)
    return {"added" if op == "add" else "removed": changed, "tenant": admin.tenant}
