"""Retention per tenant: empty a tenant's old rows and leave a chain that still verifies.

The chain runs through every tenant's rows in one sequence, so a tenant's old rows cannot simply
be deleted: the next row (perhaps another tenant's) links to their hash. Instead a purge

1. reads the tenant's rows older than the cut (``sequence`` and ``row_hash`` only), up to the
   chain head at that moment, into a digest: SHA-256 of ``"{sequence}:{row_hash}\\n"`` lines;
2. in one transaction empties exactly those rows (every column that says who, what or why;
   ``sequence``, ``occurred_at``, ``tenant``, ``kind``, ``status``, ``hash_format``, ``prev_hash``
   and ``row_hash`` stay, ``purged_by`` names the purge) and stores a **signed retention
   checkpoint**: an anchor of the head whose details are the purge id, tenant, cut, count, first
   and last sequence and digest;
3. then copies the checkpoint to the anchor sink.

Verification walks emptied rows by their links alone and demands that a checkpoint vouch for
each of them, and (on a full walk) that each checkpoint's count and digest match the rows emptied
in its name: emptying an extra row, or one of another tenant, is detected.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.anchored import purge_line
from gateway.audit.anchors import Anchor, AnchorStore, sign_anchor
from gateway.audit.chain import rfc3339
from gateway.audit.keys import AuditSigner
from gateway.audit.log import AuditLog
from gateway.audit.models import ANCHOR_TABLE
from gateway.audit.models import AUDIT_TABLE as T
from gateway.errors import AuditUnavailable

EMPTIED = {
    "request_id": "",
    "subject": "",
    "groups": [],
    "policy_version": 0,
    "action": "",
    "question": None,
    "answer": None,
    "citations": [],
    "retrieved": [],
    "generator": None,
    "guards": {},
    "latencies_ms": {},
    "details": {},
}
"""What an emptied row holds instead of its content."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What one purge did."""

    tenant: str
    before: str
    count: int
    checkpoint: Anchor | None
    """None when nothing was old enough."""


class PurgeConflict(RuntimeError):
    """Another purge emptied some of the same rows first; nothing was changed."""


def purge_tenant(
    engine: Engine, log: AuditLog, store: AnchorStore, signer: AuditSigner, tenant: str, before: datetime
) -> PurgeResult:
    """Empty ``tenant``'s rows with ``occurred_at < before`` under a signed retention checkpoint.

    Raises:
        AuditUnavailable: the database failed (nothing was changed).
        PurgeConflict: a concurrent purge got there first (nothing was changed).
    """
    head = log.head()
    if head is None:
        return PurgeResult(tenant, rfc3339(before), 0, None)
    selected = (T.c.tenant == tenant, T.c.occurred_at < before, T.c.purged_by.is_(None), T.c.sequence <= head.sequence)
    purge_id = uuid.uuid4().hex
    try:
        with engine.begin() as conn:
            count, first, last, digest = _digest(conn, selected)
            if count == 0:
                return PurgeResult(tenant, rfc3339(before), 0, None)
            emptied = conn.execute(update(T).where(*selected).values(**EMPTIED, purged_by=purge_id)).rowcount
            if emptied != count:
                raise PurgeConflict(f"expected to empty {count} rows, emptied {emptied}")
            details = {"purge_id": purge_id, "tenant": tenant, "before": rfc3339(before), "count": count}
            details |= {"first_sequence": first, "last_sequence": last, "digest": digest}
            checkpoint = sign_anchor(signer, head, "retention", details)
            conn.execute(ANCHOR_TABLE.insert(), store.row_of(checkpoint))
    except SQLAlchemyError as exc:
        raise AuditUnavailable() from exc
    store.append_to_sink(checkpoint)
    return PurgeResult(tenant, rfc3339(before), count, checkpoint)


def _digest(conn: Connection, selected: tuple[object, ...]) -> tuple[int, int, int, str]:
    """Count, first and last sequence and digest of the selected rows, streamed in pages."""
    digest, count, first, last, after = hashlib.sha256(), 0, 0, 0, 0
    while True:
        query = select(T.c.sequence, T.c.row_hash).where(*selected, T.c.sequence > after)  # type: ignore[arg-type]
        page = conn.execute(query.order_by(T.c.sequence).limit(5000)).all()
        for sequence, hashed in page:
            digest.update(purge_line(int(sequence), str(hashed)))
        if page:
            count, first, last = count + len(page), first or int(page[0][0]), int(page[-1][0])
            after = last
        if len(page) < 5000:
            return count, first, last, digest.hexdigest()
