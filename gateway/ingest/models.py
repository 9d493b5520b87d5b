"""The document registry: one row per (tenant, document id), the current version and its status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


class DocumentRow(Base):
    """What the gateway knows of a document. ``status`` says what is really searchable."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("tenant", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128), nullable=False)
    document_id: Mapped[str] = mapped_column(String(512), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    """The committed, searchable version (0 while the first one is being written)."""
    assigned_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    """The highest version ever handed out. Incremented in the database (``UPDATE ... RETURNING``
    under the row lock), so two processes can never assign the same number."""
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    collection: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    acl: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    labels: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    source_uri: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str] = mapped_column(String(128), nullable=False, default="text/plain")
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    """``pending`` (first version being written), ``indexed``, ``quarantined``, ``failed``,
    ``deleting`` (hidden; index cleanup under way) or ``deleted``."""
    screening: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    """Labels the screening steps attached (PII counts, poisoning reasons ...)."""
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """The source's own modification time, when the caller gave one."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    modified_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )
