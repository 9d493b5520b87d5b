"""Signed anchors: the chain's trust root, kept where a database writer cannot forge it.

An anchor says "at ``anchored_at`` the chain's row ``sequence`` had ``row_hash``", signed with the
audit key (:mod:`gateway.audit.keys`). Because each row's hash covers the previous one, an anchor
fixes every row up to its sequence: deleting rows before it, or deleting rows in the middle and
recomputing every later hash, no longer reproduces the signed ``row_hash``. Rows after the newest
anchor are covered only by the chain, so :class:`Anchorer` keeps that tail short (every N rows or
M seconds, and on shutdown), and an optional second sink (an append-only file) keeps a copy of
every anchor out of reach of someone who can only write the database.

The signed bytes are :func:`gateway.audit.chain.canonical_row` of :meth:`Anchor.signed_fields`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.chain import canonical_row, json_value, rfc3339
from gateway.audit.keys import AuditSigner, Keyring
from gateway.audit.log import AuditEntry, AuditLog
from gateway.audit.models import ANCHOR_TABLE as A
from gateway.errors import AuditUnavailable

logger = logging.getLogger(__name__)

ANCHOR_FORMAT = "gateway-audit-anchor/1"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed chain head (or retention checkpoint)."""

    sequence: int
    row_hash: str
    anchored_at: str
    """RFC 3339, UTC."""
    kind: str
    key_id: str
    signature: str
    details: dict[str, Any] = field(default_factory=dict)

    def signed_fields(self) -> dict[str, Any]:
        """Everything the signature covers (all but the signature itself, plus the format name)."""
        data = asdict(self)
        del data["signature"]
        return {**data, "format": ANCHOR_FORMAT}

    def payload(self) -> bytes:
        return canonical_row(self.signed_fields())

    def verified_by(self, keyring: Keyring) -> bool:
        """True when a trusted key made this signature over exactly these fields."""
        return keyring.verify(self.key_id, self.payload(), self.signature)

    def to_json(self) -> dict[str, Any]:
        return json_value(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Anchor:
        return cls(
            sequence=int(data["sequence"]),
            row_hash=str(data["row_hash"]),
            anchored_at=json_value(data["anchored_at"]),
            kind=str(data["kind"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
            details=dict(data.get("details") or {}),
        )


def sign_anchor(
    signer: AuditSigner, head: AuditEntry, kind: str, details: dict[str, Any] | None = None, at: datetime | None = None
) -> Anchor:
    """An anchor of ``head``, signed now (or at ``at``)."""
    unsigned = Anchor(
        sequence=head.sequence,
        row_hash=head.row_hash,
        anchored_at=rfc3339(at or datetime.now(UTC)),
        kind=kind,
        key_id=signer.key_id,
        signature="",
        details=json_value(details or {}),
    )
    return Anchor(**{**asdict(unsigned), "signature": signer.sign(unsigned.payload())})


class AnchorStore:
    """Anchors in the ``audit_anchors`` table, and (optionally) in an append-only sink file."""

    def __init__(self, engine: Engine, sink: Path | None = None) -> None:
        self._engine = engine
        self.sink = sink

    def write(self, anchor: Anchor) -> None:
        """Insert ``anchor``, then append it to the sink (fsynced).

        The database comes first: verification treats a sink anchor missing from the database as
        a deleted anchor, so the sink must never hold one the database refused.

        Raises:
            AuditUnavailable: the database refused it (the sink is not written).
        """
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(A), self.row_of(anchor))
        except SQLAlchemyError as exc:
            logger.error("audit anchor write failed", exc_info=exc)
            raise AuditUnavailable() from exc
        self.append_to_sink(anchor)

    @staticmethod
    def row_of(anchor: Anchor) -> dict[str, Any]:
        """The ``audit_anchors`` column values of ``anchor``."""
        return {**anchor.to_json(), "anchored_at": datetime.fromisoformat(anchor.anchored_at)}

    def append_to_sink(self, anchor: Anchor) -> None:
        """Append ``anchor`` to the sink file, if there is one, and fsync it."""
        if self.sink is None:
            return
        with self.sink.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(anchor.to_json(), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def load(self, *, lo: int | None = None, hi: int | None = None, kind: str | None = None) -> list[Anchor]:
        """Anchors from the database (``lo <= sequence <= hi``, of ``kind``, when given), in sequence order."""
        query = select(A).order_by(A.c.sequence, A.c.id)
        if kind is not None:
            query = query.where(A.c.kind == kind)
        if lo is not None:
            query = query.where(A.c.sequence >= lo)
        if hi is not None:
            query = query.where(A.c.sequence <= hi)
        return self._fetch(query)

    def before(self, sequence: int) -> Anchor | None:
        """The newest anchor strictly before ``sequence``."""
        found = self._fetch(select(A).where(A.c.sequence < sequence).order_by(A.c.sequence.desc()).limit(1))
        return found[0] if found else None

    def at_or_after(self, sequence: int) -> Anchor | None:
        """The oldest anchor at or after ``sequence``."""
        found = self._fetch(select(A).where(A.c.sequence >= sequence).order_by(A.c.sequence).limit(1))
        return found[0] if found else None

    def latest(self) -> Anchor | None:
        found = self._fetch(select(A).order_by(A.c.sequence.desc(), A.c.id.desc()).limit(1))
        return found[0] if found else None

    def load_sink(self) -> list[Anchor]:
        """The anchors in the sink file (empty when there is none)."""
        if self.sink is None or not self.sink.exists():
            return []
        with self.sink.open(encoding="utf-8") as handle:
            return [Anchor.from_json(json.loads(line)) for line in handle if line.strip()]

    def _fetch(self, query: Any) -> list[Anchor]:
        try:
            with self._engine.connect() as conn:
                return [Anchor.from_json(dict(r)) for r in conn.execute(query).mappings()]
        except SQLAlchemyError as exc:
            logger.error("audit anchor read failed", exc_info=exc)
            raise AuditUnavailable() from exc


def merge_anchors(*sources: Iterable[Anchor]) -> list[Anchor]:
    """One list of distinct anchors (by signature), in sequence order."""
    seen: dict[str, Anchor] = {}
    for source in sources:
        for anchor in source:
            seen.setdefault(anchor.signature, anchor)
    return sorted(seen.values(), key=lambda a: (a.sequence, a.anchored_at))


class Anchorer:
    """Anchors the chain head every ``every_rows`` appends or ``every_seconds``, and on stop.

    The audit log notifies it after each committed append (:meth:`appended`, cheap: a counter and
    maybe an event); a background thread does the signing and writing, so requests never wait
    for an anchor.
    """

    def __init__(
        self, log: AuditLog, store: AnchorStore, signer: AuditSigner, *, every_rows: int, every_seconds: float
    ) -> None:
        self.log, self.store, self.signer = log, store, signer
        self.every_rows, self.every_seconds = every_rows, every_seconds
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: Anchor | None = None
        self.last_error: str | None = None

    def appended(self, entry: AuditEntry) -> None:
        """Listener for :meth:`AuditLog.add_listener`: count, and wake the thread every N rows.

        The first row of a chain that has no anchor yet wakes it at once: until then verification
        (rightly) refuses an unanchored chain, so a fresh install must not wait M seconds for it.
        """
        # Rows since the last anchor, by sequence: no counter to reset, so no append can be lost
        # between the thread's write and its bookkeeping (and other processes' rows count too).
        last = self.last
        if last is None or entry.sequence - last.sequence >= self.every_rows:
            self._wake.set()

    def anchor_now(self, kind: str = "manual", details: dict[str, Any] | None = None) -> Anchor | None:
        """Sign and store the current head (None for an empty chain).

        Raises:
            AuditUnavailable: the head could not be read or the anchor not written.
        """
        with self._lock:
            head = self.log.head()
            if head is None:
                return None
            anchor = sign_anchor(self.signer, head, kind, details)
            self.store.write(anchor)
            self.last = anchor
            return anchor

    def anchor_if_new(self, kind: str) -> Anchor | None:
        """Anchor the head unless it is already the newest anchor (or the chain is empty)."""
        if self.last is None:
            self.last = self.store.latest()
        head = self.log.head()
        if head is None or (self.last is not None and self.last.sequence >= head.sequence):
            return None
        return self.anchor_now(kind)

    def start(self) -> None:
        """Anchor an unanchored head at once, then keep anchoring in a daemon thread."""
        self.anchor_if_new("startup")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-anchorer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and anchor the final head (the shutdown anchor); no-op when not started."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._thread = None
        self._try("shutdown")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.every_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self._try("periodic")

    def _try(self, kind: str) -> None:
        try:
            self.anchor_if_new(kind)
            self.last_error = None
        except Exception as exc:  # the thread must survive an outage; readiness reports it
            self.last_error = type(exc).__name__
            logger.error("audit anchoring failed", exc_info=exc)
