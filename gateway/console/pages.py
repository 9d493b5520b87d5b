"""The console's pages. Each route declares the API's own guard (``requires``) for what it shows or
changes, so the console can never do more than the same person could through ``/v1/admin``; the
work is done by the admin services (``gateway.admin``), which write the audit rows."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Stream, Template

from gateway.admin.access import AccessReport, policy_history
from gateway.admin.audit_exports import MEDIA_TYPES, AuditExports
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.explain import AccessExplain
from gateway.admin.policies import PolicyAdmin
from gateway.admin.quarantine import QuarantineReview
from gateway.admin.scope import AdminScope
from gateway.api.security import Guard, admin_scope, policy_view, requires, services_of
from gateway.audit.export import ExportFilter
from gateway.authz.rules import PolicyRule
from gateway.console.charts import bar_chart, line_chart
from gateway.console.dashboard import DashboardReport
from gateway.console.models import ModelAdmin, model_admin
from gateway.console.security import console_roles, csrf_guard, session_of
from gateway.deps import MODEL_PATH
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.ingest.service import DocumentService

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
AnyRequest = Request[Any, Any, Any]
NAV = (
    ("/console/", "Dashboard", "system:audit", "read"),
    ("/console/policies", "Policies", "system:policies", "read"),
    ("/console/explain", "Explain", "system:policies", "read"),
    ("/console/quarantine", "Quarantine", "system:documents", "admin"),
    ("/console/audit", "Audit", "system:audit", "read"),
    ("/console/models/", "Models", "system:audit", "read"),
)
FLASH = {"added": "Rule added.", "removed": "Rule removed.", "approved": "Document approved and indexed.",
         "rejected": "Document rejected.", "unchanged": "Nothing changed.", "activated": "Adapter activated.",
         "rolled_back": "Rolled back to the previous adapter."}  # fmt: skip
AUDIT_PAGE = 50


def render(request: AnyRequest, name: str, **context: Any) -> Template:
    """A page with the console's frame: who is logged in, the pages they may open, the CSRF token."""
    me = request.user
    view = policy_view(request)
    nav = [
        {"href": href, "label": label, "current": request.url.path == href}
        for href, label, resource, action in NAV
        if view.decide(me, resource, action).allowed
    ]
    flash = FLASH.get(request.query_params.get("done", ""))
    base = {"me": me, "roles": console_roles(request, me), "csrf": session_of(request).csrf, "nav": nav}
    return Template(name, context={**base, "flash": flash, **context})


def visible(text: str) -> str:
    """Invisible and control characters spelled out (``\\u200b``), so hidden text shows as evidence."""
    return "".join(
        ch
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs", "Zl", "Zp")
        else f"\\u{ord(ch):04x}"
        for ch in text
    )


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
        board = await _in_thread(DashboardReport(services.engine, services.audit).build, admin)
        charts = {
            "requests": line_chart("Requests per hour", board.hours, {"requests": board.requests}),
            "refused": line_chart("Refusals per hour", board.hours, {"refused": board.refused}),
            "quarantined": line_chart("Quarantined per hour", board.hours, {"quarantined": board.quarantined}),
            "redactions": line_chart("Redactions per hour", board.hours, {"redactions": board.redactions}),
            "p95": bar_chart("p95 latency per stage", board.p95, " ms"),
        }
        return render(request, "dashboard.html", board=board, charts=charts)


MODELS_GUARD = requires("system:models", "admin", audit_action="finetune.adapters")


class ModelPages(Controller):
    """Behind the console's session guard; the registry's own right (``system:models`` admin, as for
    ``/v1/admin/finetune``) is checked once a registry is configured."""

    path = "/console/models"
    include_in_schema = False

    @get("/")
    async def models(self, request: AnyRequest) -> Template:
        service = model_admin(request)
        if service is None:
            return render(request, "models.html", catalog=None)
        await MODELS_GUARD(request, request.route_handler)
        admin = admin_scope(request)
        datasets = await _in_thread(service.datasets, admin)
        adapters, active = await _in_thread(service.adapters, admin)
        shown = [{**_fields(a), "gate_list": _gates(getattr(a, "gates", {}) or {})} for a in adapters]
        return render(request, "models.html", catalog={"datasets": datasets, "adapters": shown, "active": active})

    @post("/activate", guards=[csrf_guard, requires("system:models", "admin", audit_action="finetune.activate")])
    async def activate(self, request: AnyRequest, admin: NamedDependency[AdminScope], data: Form) -> Redirect:
        service = _configured(request)
        version = _int_or_none(data.get("version"))
        await _in_thread(service.activate, admin, data.get("name", ""), version)
        return Redirect("/console/models?done=activated", status_code=303)

    @post("/rollback", guards=[csrf_guard, requires("system:models", "admin", audit_action="finetune.rollback")])
    async def rollback(self, request: AnyRequest, admin: NamedDependency[AdminScope]) -> Redirect:
        await _in_thread(_configured(request).rollback, admin)
        return Redirect("/console/models?done=rolled_back", status_code=303)


def _fields(row: Any) -> dict[str, Any]:
    names = ("id", "name", "version", "base", "dataset_id", "status")
    return {name: getattr(row, name, None) for name in names}


def _gates(gates: dict[str, Any]) -> list[dict[str, Any]]:
    """Each gate's name and whether it passed (a bool, or a mapping with ``passed``)."""
    out = []
    for name, value in sorted(gates.items()):
        passed = value.get("passed") if isinstance(value, dict) else value
        if isinstance(passed, bool):
            out.append({"name": name, "passed": passed})
    return out


def _configured(request: AnyRequest) -> ModelAdmin:
    service = model_admin(request)
    if service is None:
        raise NotFound("the fine-tuning registry is not configured")
    return service


class PolicyPages(Controller):
    path = "/console/policies"
    include_in_schema = False

    @get("/", guards=_policies("read", "policy.list"))
    async def policies(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], policy_admin: NamedDependency[PolicyAdmin]
    ) -> Template:
        services = services_of(request)
        history = await _in_thread(policy_history, services.engine, admin.tenant)
        can_admin = admin.view.decide(admin.acting, "system:policies", "admin").allowed
        details = {"rules": len(policy_admin.rules(admin)), "history": len(history)}
        record = admin.record(kind="read", status="ok", action="policy.list", details=details)
        await _in_thread(services.audit.append, record)
        return render(
            request, "policies.html", rules=policy_admin.rules(admin), version=admin.view.version,
            history=history, can_admin=can_admin,
        )  # fmt: skip

    @post("/preview", guards=[csrf_guard, *_policies("read", "policy.whatif")], status_code=200)
    async def preview(self, request: AnyRequest, admin: NamedDependency[AdminScope], data: Form) -> Template:
        """The what-if of an edit (nothing is saved); the preview is audited like a read."""
        rule, op = _rule(data)
        result = await _in_thread(_access(request).what_if, admin, rule, op)
        details = {"op": op, "ptype": rule.ptype, "rule": list(rule.fields), "affected": len(result.changes)}
        record = admin.record(kind="read", status="ok", action="policy.whatif", details=details)
        await _in_thread(services_of(request).audit.append, record)
        return render(
            request, "policy_preview.html", w=result, version=admin.view.version, summary=_summary(result.changes),
            rollback_of=_int_or_none(data.get("rollback_of")),
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
        if _int_or_none(data.get("expected_version")) != admin.view.version:
            details = {"reason": "policy_changed_since_preview", "op": op, "rule": list(rule.fields)}
            record = admin.record(kind="admin", status="refused", action=f"policy.{op}", details=details)
            await _in_thread(services_of(request).audit.append, record)
            raise Conflict("the policy changed since this preview: preview the edit again")
        note: dict[str, object] = {"via": "console"}
        rollback = _int_or_none(data.get("rollback_of"))
        if rollback is not None:
            note["rollback_of"] = rollback
        changed = await _in_thread(policy_admin.change, admin, rule, op, note)
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
                result = await _in_thread(service.explain, admin, who, form["document_id"])
            else:
                details = {"subject": who.subject, "question": "visible_counts"}
                record = admin.record(kind="admin", status="ok", action="policy.explain", details=details)
                await _in_thread(documents.audit.append, record)
            counts = await _in_thread(_access(request).visible_counts, admin, who)
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
        rows = await _in_thread(lambda: review.list(admin, collection=None, detector=None, status=status or None))
        return render(request, "quarantine.html", items=rows, status=status)

    @get("/{quarantine_id:int}", guards=_quarantine("get"))
    async def item(
        self,
        request: AnyRequest,
        admin: NamedDependency[AdminScope],
        review: NamedDependency[QuarantineReview],
        quarantine_id: FromPath[int],
    ) -> Template:
        row = await _in_thread(review.get, admin, quarantine_id)
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
            await _in_thread(review.approve, admin, quarantine_id, note)
            return Redirect("/console/quarantine?done=approved", status_code=303)
        if data.get("decision") == "reject":
            await _in_thread(review.reject, admin, quarantine_id, note)
            return Redirect("/console/quarantine?done=rejected", status_code=303)
        raise InvalidRequest("decide approve or reject")


def _audit_guard(action: str) -> list[Guard]:
    return [requires("system:audit", "read", kind="read", audit_action=action)]


def _filters(request: AnyRequest) -> tuple[dict[str, str | None], ExportFilter]:
    q = request.query_params
    f = {k: (q.get(k) or None) for k in ("subject", "kind", "status", "collection")}
    f["start"], f["end"] = q.get("from") or None, q.get("to") or None
    flt = ExportFilter(
        start=_time(f["start"]), end=_time(f["end"]), status=f["status"], collection=f["collection"],
        subject=f["subject"], kind=f["kind"],
    )  # fmt: skip
    return f, flt


class AuditPages(Controller):
    path = "/console/audit"
    include_in_schema = False

    @get("/", guards=_audit_guard("audit.read"))
    async def search(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], audit_trail: NamedDependency[AuditTrail]
    ) -> Template:
        f, flt = _filters(request)
        before = _int_or_none(request.query_params.get("before"))
        rows = await _in_thread(
            lambda: audit_trail.search(
                admin, subject=f["subject"], kind=f["kind"], limit=AUDIT_PAGE, before=before, more=flt
            )
        )
        content = admin.view.decide(admin.acting, "system:audit-content", "read").allowed
        query = {("from" if k == "start" else "to" if k == "end" else k): v for k, v in f.items() if v}
        export_query = ("&" + urlencode(query)) if query else ""
        next_before = rows[-1]["sequence"] if len(rows) == AUDIT_PAGE else None
        return render(
            request, "audit.html", rows=rows, f=f, export_query=export_query, content=content,
            next_before=next_before, verify=None,
        )  # fmt: skip

    @get("/{sequence:int}", guards=_audit_guard("audit.read"))
    async def row(
        self,
        request: AnyRequest,
        admin: NamedDependency[AdminScope],
        audit_trail: NamedDependency[AuditTrail],
        sequence: FromPath[int],
    ) -> Template:
        rows = await _in_thread(
            lambda: audit_trail.search(admin, subject=None, kind=None, limit=1, before=sequence + 1)
        )
        if not rows or rows[0]["sequence"] != sequence:
            raise NotFound("no such audit row in this tenant")
        return render(request, "audit_row.html", row=rows[0])

    @post("/verify", guards=[csrf_guard, *_audit_guard("audit.verify")], status_code=200)
    async def verify(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], audit_trail: NamedDependency[AuditTrail]
    ) -> Template:
        result = await _in_thread(audit_trail.verify, admin)
        content = admin.view.decide(admin.acting, "system:audit-content", "read").allowed
        return render(
            request, "audit.html", rows=[], f={}, export_query="", content=content, next_before=None, verify=result
        )

    @get("/export", guards=_audit_guard("audit.export"))
    async def export(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], audit_exports: NamedDependency[AuditExports]
    ) -> Response[Any]:
        """The same export as ``GET /v1/audit/export``: recorded and audited before the first byte."""
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in MEDIA_TYPES:
            raise InvalidRequest("format is jsonl, csv or parquet")
        _, flt = _filters(request)
        export_id, content, body = await _in_thread(audit_exports.start, admin, flt, fmt)
        headers = {
            "X-Audit-Export-Id": export_id,
            "X-Audit-Content": "full" if content else "metadata",
            "Content-Disposition": f'attachment; filename="audit-{export_id}.{fmt}"',
        }
        return Stream(body, media_type=MEDIA_TYPES[fmt], headers=headers)

    @get("/exports/{export_id:str}/manifest", guards=_audit_guard("audit.manifest"))
    async def manifest(
        self, admin: NamedDependency[AdminScope], audit_exports: NamedDependency[AuditExports], export_id: FromPath[str]
    ) -> Response[Any]:
        manifest = await _in_thread(audit_exports.manifest, admin, export_id)
        if manifest is None:
            raise NotFound("no finished export with this id in this tenant")
        headers = {"Content-Disposition": f'attachment; filename="audit-{export_id}.manifest.json"'}
        return Response(manifest, media_type="application/json", headers=headers)


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


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest("times are ISO 8601 (UTC)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _in_thread(fn: Any, *args: Any) -> Any:
    import anyio.to_thread  # noqa: PLC0415

    return await anyio.to_thread.run_sync(fn, *args)
