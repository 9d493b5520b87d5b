"""Who sees what of an audit row: one rule for the audit API, the console and the exports.

Separation of duties: reading the audit trail (``system:audit`` read) shows who did what, when,
with which outcome, policy version, document ids and timings: the *metadata*. The text that passed
through the gateway (questions, answers, citation titles) is document content; only a principal
granted ``system:audit-content`` read (the seed's ``auditor`` role) sees it. Everything else stays
as stored, so a metadata view still names every document and chunk involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONTENT_FIELDS = ("question", "answer")
"""Columns that hold text which passed through the gateway."""
CITATION_CONTENT = ("title",)
"""Citation members that quote a document (titles can be as telling as text)."""
REDACTED = "[redacted: needs system:audit-content]"


def visible_row(row: Mapping[str, Any], *, content: bool) -> dict[str, Any]:
    """The view of ``row`` for a reader who may (``content``) or may not see audit content.

    A metadata view keeps the row's shape: content columns that held text read :data:`REDACTED`
    (``None`` stays ``None``), citations lose their titles, and ``content_redacted`` says so.
    """
    out = dict(row)
    if content:
        out["content_redacted"] = False
        return out
    for name in CONTENT_FIELDS:
        if out.get(name) is not None:
            out[name] = REDACTED
    out["citations"] = [
        {k: v for k, v in citation.items() if k not in CITATION_CONTENT} for citation in out.get("citations") or ()
    ]
    out["content_redacted"] = True
    return out
