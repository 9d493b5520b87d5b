"""``/v1/audit``: streaming exports of one tenant's audit trail, their manifests, the public key.

``GET /v1/audit/export`` needs ``system:audit`` read in the tenant asked about (``?tenant=``, the
caller's own by default); question and answer text only for ``system:audit-content`` readers. The
export is audited (one row) before the first byte; the response names its manifest in
``X-Audit-Export-Id`` and a ``Link`` header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPI, OpenAPIFormat, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from gateway.admin.audit_exports import MEDIA_TYPES, AuditExports
from gateway.admin.scope import AdminScope
from gateway.api.security import authenticate, query_tenant, requires
from gateway.audit.export import ExportFilter
from gateway.audit.keys import load_keyring
from gateway.errors import NotFound
from gateway.settings import Settings

Text = Annotated[str | None, QueryParameter(max_length=255)]


class AuditController(Controller):
    guards = [authenticate]  # noqa: RUF012 - Litestar reads guards as a class attribute
    path = "/v1/audit"
    tags = ("audit",)

    @get(
        "/export",
        sync_to_thread=True,
        guards=[requires("system:audit", "read", kind="read", audit_action="audit.export", tenant_of=query_tenant())],
    )
    def export(
        self,
        admin: NamedDependency[AdminScope],
        audit_exports: NamedDependency[AuditExports],
        format: FromQuery[Literal["jsonl", "csv", "parquet"]] = "jsonl",
        start: Annotated[datetime | None, QueryParameter(name="from")] = None,
        end: Annotated[datetime | None, QueryParameter(name="to")] = None,
        tenant: Text = None,
        subject: Text = None,
        status: Text = None,
        kind: Text = None,
        collection: Text = None,
    ) -> Stream:
        """Stream the tenant's audit rows (bounded memory); the signed manifest follows at
        ``/v1/audit/exports/{id}/manifest`` once the body is complete."""
        flt = ExportFilter(start=start, end=end, subject=subject, status=status, kind=kind, collection=collection)
        export_id, content, body = audit_exports.start(admin, flt, format)
        headers = {
            "X-Audit-Export-Id": export_id,
            "X-Audit-Content": "full" if content else "metadata",
            "Link": f'</v1/audit/exports/{export_id}/manifest>; rel="describedby"',
            "Content-Disposition": f'attachment; filename="audit-{export_id}.{format}"',
        }
        return Stream(body, media_type=MEDIA_TYPES[format], headers=headers)

    @get(
        "/exports/{export_id:str}/manifest",
        sync_to_thread=True,
        guards=[requires("system:audit", "read", kind="read", audit_action="audit.manifest", tenant_of=query_tenant())],
    )
    def manifest(
        self,
        admin: NamedDependency[AdminScope],
        audit_exports: NamedDependency[AuditExports],
        export_id: FromPath[str],
        tenant: Text = None,
    ) -> dict[str, Any]:
        """The signed manifest of a finished export of the tenant (404 otherwise)."""
        manifest = audit_exports.manifest(admin, export_id)
        if manifest is None:
            raise NotFound("no finished export with this id in this tenant")
        return manifest

    @get("/public-key", sync_to_thread=True)
    def public_key(self, settings: NamedDependency[Settings]) -> dict[str, Any]:
        """The audit keys (JWKS: current and retired) that verify anchors and export manifests."""
        return load_keyring(settings).jwks()


def document_export(openapi: OpenAPI) -> None:
    """The export's 200 is a byte stream in the requested format, not JSON: say so in the schema."""
    item = (openapi.paths or {}).get("/v1/audit/export")
    operation = item.get if item is not None else None
    if operation is None or not operation.responses:
        return
    response = operation.responses.get("200")
    if isinstance(response, OpenAPIResponse):
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        response.content = {media: OpenAPIMediaType(schema=binary) for media in MEDIA_TYPES.values()}
