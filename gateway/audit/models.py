"""The audit table: one hash-chained row per audited event.

The mapped class exists for Alembic's autogenerate and for readers; the audit log itself writes
and reads through SQLAlchemy Core on :data:`AUDIT_TABLE` (the ORM unit of work costs several
hundred microseconds a row, see ``MEASUREMENTS.md``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, DateTime, Integer, SmallInteger, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


class AuditRow(Base):
    """One audited event. Every column except ``row_hash`` is inside the hashed content."""

    __tablename__ = "audit_log"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Gapless position in the chain, 1..n. The primary key is the uniqueness backstop."""
    request_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    """UTC, microsecond precision (stored as such on SQLite and PostgreSQL alike). Indexed for
    time-sliced exports and verification."""
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    groups: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    policy_version: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    retrieved: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    """``[{chunk_id, document_id, version, score}]``, scores rounded before storing."""
    generator: Mapped[str | None] = mapped_column(String(255))
    guards: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    latencies_ms: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False)
    """Per-stage latencies in milliseconds, rounded before storing."""
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    """``row_hash`` of the previous row; 64 zeros for the first row."""
    hash_format: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("1"))
    """Which hash format :func:`gateway.audit.chain.row_hash` applies (1: rows from before it existed)."""
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    """SHA-256 (hex) of the row in its ``hash_format`` (see :mod:`gateway.audit.chain`)."""
    purged_by: Mapped[str | None] = mapped_column(String(64))
    """Set when retention emptied the row: the ``purge_id`` of the signed checkpoint that vouches for it."""


class AnchorRow(Base):
    """A signed statement "the chain had this ``row_hash`` at this ``sequence``" (see :mod:`gateway.audit.anchors`).

    The signature, not this table, is what is trusted: the signing key lives outside the database,
    so someone who can write here can delete anchors but cannot forge one.
    """

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    anchored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    """``periodic``, ``shutdown``, ``manual``, ``rotation`` or ``retention`` (a checkpoint at a purge)."""
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    signature: Mapped[str] = mapped_column(String(128), nullable=False)
    """Ed25519 over the anchor's canonical JSON, base64url without padding."""


AUDIT_TABLE: Table = cast(Table, AuditRow.__table__)
"""The Core table the audit log inserts into and reads from."""


ANCHOR_TABLE: Table = cast(Table, AnchorRow.__table__)
"""The Core table of signed anchors."""


class ExportRow(Base):
    """The signed manifest of an export streamed over HTTP, kept for ``GET .../manifest``."""

    __tablename__ = "audit_exports"

    export_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    """The tenant exported: only readers of that tenant's audit trail may fetch the manifest."""
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Null until the last byte was sent (an interrupted export has no manifest)."""


EXPORT_TABLE: Table = cast(Table, ExportRow.__table__)
