"""Where a dataset's examples come from, and who can read what they were drawn from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.audit.models import AuditRow
from gateway.auth.principal import Principal
from gateway.authz.view import PolicyView
from gateway.errors import InvalidRequest
from gateway.finetune.dataset import Source
from gateway.finetune.examples import Example, read_jsonl
from gateway.ingest.flow import document_ref
from gateway.ingest.models import DocumentRow

AUDIENCE_SUBJECT = "finetune:audience"
"""A member of the tenant with no group but the audience's: what the whole audience can read."""


def file_source(path: Path) -> Source:
    """An uploaded JSONL file of chat or instruction examples."""
    raw = path.read_bytes()
    examples = [ex for _, ex in read_jsonl(path)]
    return Source(kind="file", id=path.name, sha256=hashlib.sha256(raw).hexdigest(), examples=examples)


def audit_sources(audit: AuditLog, tenant: str, sequences: Sequence[int]) -> list[Source]:
    """Answered ``ask`` records of ``tenant`` that an admin approved (by sequence number).

    The cited documents are the example's documents: the audience check applies to them.
    """
    sources = []
    T = AuditRow.__table__
    for seq in sequences:
        rows = list(audit.iter_rows(since=seq - 1, until=seq, where=[T.c.tenant == tenant]))
        row = rows[0] if rows else None
        if row is None or row.get("kind") != "ask" or row.get("status") != "answered":
            raise InvalidRequest(f"audit record {seq} is not an answered question of tenant {tenant!r}")
        question, answer = str(row.get("question") or ""), str(row.get("answer") or "")
        if not question or not answer:
            raise InvalidRequest(f"audit record {seq} holds no question and answer (content purged?)")
        docs = tuple(sorted({str(c.get("document_id")) for c in row.get("citations") or [] if c.get("document_id")}))
        canonical = json.dumps({"sequence": seq, "row_hash": row.get("row_hash")}, sort_keys=True)
        example = Example(question, answer, docs)
        sources.append(Source("audit", str(seq), hashlib.sha256(canonical.encode()).hexdigest(), [example]))
    return sources


def audience_reader(
    view: PolicyView, find: Callable[[str, str], DocumentRow | None], tenant: str, groups: Sequence[str] = ()
) -> Callable[[str], bool]:
    """``readable(document_id)``: can a member of ``tenant`` with only ``groups`` read it?

    An absent document is not readable (a source that cannot be checked is refused).
    """
    audience = Principal(subject=AUDIENCE_SUBJECT, tenant=tenant, groups=frozenset(groups))

    def readable(document_id: str) -> bool:
        row = find(tenant, document_id)
        return row is not None and row.status == "indexed" and view.can_read(audience, document_ref(row)).allowed

    return readable
