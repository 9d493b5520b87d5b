"""Poisoning screening: the quarantine of suspect submissions and the flood detector's memory.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("document_id", sa.String(length=512), nullable=False),
        sa.Column("collection", sa.String(length=255), nullable=False),
        sa.Column("submitted_by", sa.String(length=512), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("submission", sa.JSON(), nullable=False),
        sa.Column("detectors", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=512), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quarantine_tenant", "quarantine", ["tenant"])
    # guards.poisoning.flood_store.SqlFloodStore: MinHash signatures and LSH bands, no text.
    op.create_table(
        "poisoning_flood_documents",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("doc_key", sa.String(length=512), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("source", "doc_key"),
    )
    op.create_index("ix_poisoning_flood_documents_at", "poisoning_flood_documents", ["at"])
    op.create_table(
        "poisoning_flood_bands",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("band", sa.String(length=40), nullable=False),
        sa.Column("doc_key", sa.String(length=512), nullable=False),
    )
    op.create_index("ix_poisoning_flood_bands_lookup", "poisoning_flood_bands", ["source", "band"])


def downgrade() -> None:
    op.drop_index("ix_poisoning_flood_bands_lookup", table_name="poisoning_flood_bands")
    op.drop_table("poisoning_flood_bands")
    op.drop_index("ix_poisoning_flood_documents_at", table_name="poisoning_flood_documents")
    op.drop_table("poisoning_flood_documents")
    op.drop_index("ix_quarantine_tenant", table_name="quarantine")
    op.drop_table("quarantine")
