"""The console's pages. Each route declares the API's own guard (``requires``) for what it shows or
changes, so the console can never do more than the same person could through ``/v1/admin``; the
work is done by the admin services (``gateway.admin``), which write the audit rows."""

from __future__ import annotations

import json
from typing import Any, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from gateway.admin.access import AccessReport, policy_history
from gateway.admin.explain import AccessExplain
from gateway.admin.policies import PolicyAdmin
from gateway.admin.quarantine import QuarantineReview
from gateway.admin.scope import AdminScope
from gateway.api.security import Guard, requires, services_of
from gateway.authz.rules import PolicyRule
from gateway.console.charts import bar_chart, line_chart
from gateway.console.dashboard import DashboardReport
from gateway.console.frame import AnyRequest, Form, in_thread, int_or_none, render, visible
from gateway.console.security import csrf_guard
from gateway.deps import MODEL_PATH
from gateway.errors import Conflict, InvalidRequest
from gateway.ingest.service import DocumentService


def _rule(data: dict[str, str]) -> tuple[PolicyRule, Literal["add", "remove"]]:
    op = data.get("op")
    ptype = data.get("ptype")
    if op not in ("add", "remove") or ptype not in ("p", "g"):
        raise InvalidRequest("choose add or remove, and a p or g rule")
    fields = tuple(f.strip() for f in data.get("rule", "").split(","))
    return PolicyRule(ptype, fields), op  # type: ignore[return-value]


def _policies(action: str, audit_action: str) -> list[Guard]:
    return [requires("system:policies", action, audit_action=audit_action)]


def _access(request: AnyRequest) -> AccessReport:
    return AccessReport(services_of(request).engine, MODEL_PATH)


class DashboardController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/", guards=[requires("system:audit", "read", kind="read", audit_action="console.dashboard")])
    async def dashboard(self, request: AnyRequest, admin: NamedDependency[AdminScope]) -> Template:
        services = services_of(request)
        board = await in_thread(DashboardReport(services.engine, services.audit).build, admin)
        charts = {
            "requests": line_chart("Requests per hour", board.hours, {"requests": board.requests}),
            "refused": line_chart("Refusals per hour", board.hours, {"refused": board.refused}),
            "quarantined": line_chart("Quarantined per hour", board.hours, {"quarantined": board.quarantined}),
            "redactions": line_chart("Redactions per hour", board.hours, {"redactions": board.redactions}),
            "p95": bar_chart("p95 latency per stage", board.p95, " ms"),
        }
        return render(request, "dashboard.html", board=board, charts=charts)


class PolicyPages(Controller):
    path = "/console/policies"
    include_in_schema = False

    @get("/", guards=_policies("read", "policy.list"))
    async def policies(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], policy_admin: NamedDependency[PolicyAdmin]
    ) -> Template:
        services = services_of(request)
        history = await in_thread(policy_history, services.engine, admin.tenant)
        can_admin = admin.view.decide(admin.acting, "system:policies", "admin").allowed
        details = {"rules": len(policy_admin.rules(admin)), "history": len(history)}
        record = admin.record(kind="read", status="ok", action="policy.list", details=details)
        await in_thread(services.audit.append, record)
        return render(
            request, "policies.html", rules=policy_admin.rules(admin), version=admin.view.version,
            history=history, can_admin=can_admin,
        )  # fmt: skip

    @post("/preview", guards=[csrf_guard, *_policies("read", "policy.whatif")], status_code=200)
    async def preview(self, request: AnyRequest, admin: NamedDependency[AdminScope], data: Form) -> Template:
        """The what-if of an edit (nothing is saved); the preview is audited like a read."""
        rule, op = _rule(data)
        result = await in_thread(_access(request).what_if, admin, rule, op)
        details = {"op": op, "ptype": rule.ptype, "rule": list(rule.fields), "affected": len(result.changes)}
        record = admin.record(kind="read", status="ok", action="policy.whatif", details=details)
        await in_thread(services_of(request).audit.append, record)
        return render(
            request, "policy_preview.html", w=result, version=admin.view.version, summary=_summary(result.changes),
            rollback_of=int_or_none(data.get("rollback_of")),
        )  # fmt: skip

    @post("/apply", guards=[csrf_guard, *_policies("admin", "policy.change")])
    async def apply(
        self,
        request: AnyRequest,
        admin: NamedDependency[AdminScope],
        policy_admin: NamedDependency[PolicyAdmin],
        data: Form,
    ) -> Redirect:
        """Save a previewed edit, unless the policy moved on since the preview (then preview again)."""
        rule, op = _rule(data)
        if int_or_none(data.get("expected_version")) != admin.view.version:
            details = {"reason": "policy_changed_since_preview", "op": op, "rule": list(rule.fields)}
            record = admin.record(kind="admin", status="refused", action=f"policy.{op}", details=details)
            await in_thread(services_of(request).audit.append, record)
            raise Conflict("the policy changed since this preview: preview the edit again")
        note: dict[str, object] = {"via": "console"}
        rollback = int_or_none(data.get("rollback_of"))
        if rollback is not None:
            note["rollback_of"] = rollback
        changed = await in_thread(policy_admin.change, admin, rule, op, note)
        done = ("added" if op == "add" else "removed") if changed else "unchanged"
        return Redirect(f"/console/policies?done={done}", status_code=303)


class ExplainPage(Controller):
    path = "/console/explain"
    include_in_schema = False

    @get("/", guards=_policies("read", "policy.explain"))
    async def explain(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], documents: NamedDependency[DocumentService]
    ) -> Template:
        q = request.query_params
        form = {k: q.get(k, "") for k in ("subject", "groups", "document_id")}
        result = counts = None
        if form["subject"]:
            service = AccessExplain(documents, documents.audit)
            groups = [g.strip() for g in form["groups"].split(",") if g.strip()]
            who = service.principal(admin, form["subject"], groups)
            if form["document_id"]:
                result = await in_thread(service.explain, admin, who, form["document_id"])
            else:
                details = {"subject": who.subject, "question": "visible_counts"}
                record = admin.record(kind="admin", status="ok", action="policy.explain", details=details)
                await in_thread(documents.audit.append, record)
            counts = await in_thread(_access(request).visible_counts, admin, who)
        decision = None
        if result is not None:
            decision = {**result.__dict__, "decision": "allow" if result.allowed else "deny"}
        return render(request, "explain.html", form=form, result=decision, counts=counts)


def _quarantine(action: str) -> list[Guard]:
    return [requires("system:documents", "admin", audit_action=f"quarantine.{action}")]


class QuarantinePages(Controller):
    path = "/console/quarantine"
    include_in_schema = False

    @get("/", guards=_quarantine("list"))
    async def listing(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], review: NamedDependency[QuarantineReview]
    ) -> Template:
        status = request.query_params.get("status", "pending")
        rows = await in_thread(lambda: review.list(admin, collection=None, detector=None, status=status or None))
        return render(request, "quarantine.html", items=rows, status=status)

    @get("/{quarantine_id:int}", guards=_quarantine("get"))
    async def item(
        self,
        request: AnyRequest,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        quarantine_id: FromPath[int],
    ) -> Template:
        row = await in_thread(review.get, admin, quarantine_id)
        reasons = [
            {"detector": r.get("detector", "?"), "score": r.get("score", ""),
             "text": json.dumps({k: v for k, v in r.items() if k != "detector"}, indent=2, ensure_ascii=True)}
            for r in row.reasons
        ]  # fmt: skip
        return render(
            request, "quarantine_item.html", q=row, reasons=reasons,
            title=visible(str(row.submission.get("title", ""))),
            excerpt=visible(str(row.submission.get("text", ""))[:4000]),
        )  # fmt: skip

    @post("/{quarantine_id:int}/decide", guards=[csrf_guard, *_quarantine("decide")])
    async def decide(
        self,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        quarantine_id: FromPath[int],
        data: Form,
    ) -> Redirect:
        note = (data.get("note") or "")[:500] or None
        if data.get("decision") == "approve":
            await in_thread(review.approve, admin, quarantine_id, note)
            return Redirect("/console/quarantine?done=approved", status_code=303)
        if data.get("decision") == "reject":
            await in_thread(review.reject, admin, quarantine_id, note)
            return Redirect("/console/quarantine?done=rejected", status_code=303)
        raise InvalidRequest("decide approve or reject")


def _summary(changes: list[Any]) -> list[str]:
    gains: dict[str, list[str]] = {}
    losses: dict[str, list[str]] = {}
    for c in changes:
        for col in c.gained_collections:
            gains.setdefault(col, []).append(c.who)
        for col in c.lost_collections:
            losses.setdefault(col, []).append(c.who)
    lines = [f"{len(w)} gain read on {col}: {', '.join(w)}" for col, w in sorted(gains.items())]
    lines += [f"{len(w)} lose read on {col}: {', '.join(w)}" for col, w in sorted(losses.items())]
    for c in changes:
        if c.gained:
            lines.append(f"{len(c.gained)} documents become visible to {c.who}")
        if c.lost:
            lines.append(f"{len(c.lost)} documents become invisible to {c.who}")
    return lines
