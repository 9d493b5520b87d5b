"""The console's page frame and small helpers shared by its controllers."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

import anyio.to_thread
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from gateway.api.security import policy_view
from gateway.console.security import console_roles, session_of

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


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


async def in_thread(fn: Any, *args: Any) -> Any:
    """Run blocking service code (SQL, Casbin) off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)
