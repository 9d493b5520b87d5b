"""``/console/audit``: search, a row's provenance, chain and anchor verification, exports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Response, Stream, Template

from gateway.admin.audit_exports import MEDIA_TYPES, AuditExports
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.scope import AdminScope
from gateway.api.security import Guard, requires
from gateway.audit.export import ExportFilter
from gateway.console.frame import AUDIT_PAGE, AnyRequest, in_thread, int_or_none, render
from gateway.console.security import csrf_guard
from gateway.errors import InvalidRequest, NotFound


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
        before = int_or_none(request.query_params.get("before"))
        rows = await in_thread(
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
        rows = await in_thread(lambda: audit_trail.search(admin, subject=None, kind=None, limit=1, before=sequence + 1))
        if not rows or rows[0]["sequence"] != sequence:
            raise NotFound("no such audit row in this tenant")
        return render(request, "audit_row.html", row=rows[0])

    @post("/verify", guards=[csrf_guard, *_audit_guard("audit.verify")], status_code=200)
    async def verify(
        self, request: AnyRequest, admin: NamedDependency[AdminScope], audit_trail: NamedDependency[AuditTrail]
    ) -> Template:
        result = await in_thread(audit_trail.verify, admin)
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
        export_id, content, body = await in_thread(audit_exports.start, admin, flt, fmt)
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
        manifest = await in_thread(audit_exports.manifest, admin, export_id)
        if manifest is None:
            raise NotFound("no finished export with this id in this tenant")
        headers = {"Content-Disposition": f'attachment; filename="audit-{export_id}.manifest.json"'}
        return Response(manifest, media_type="application/json", headers=headers)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest("times are ISO 8601 (UTC)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
