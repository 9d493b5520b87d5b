"""Audit anchors and hash format 2: signed chain heads, a versioned row hash, retention stubs.

* ``audit_anchors``: signed statements of the chain head (the signature, made with a key kept
  outside the database, is what verification trusts).
* ``audit_log.hash_format``: every existing row is format 1 (server default), new rows are
  written in format 2 by the code. Existing rows are deliberately *not* re-hashed: a chain
  rewritten by a migration could no longer prove it was not rewritten by someone else.
* ``audit_log.purged_by``: set on rows that retention emptied (outside the hash).
* an index on ``audit_log.occurred_at`` for time-sliced exports and verification.
* ``audit_exports``: the signed manifests of exports streamed over HTTP.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("hash_format", sa.SmallInteger(), server_default=sa.text("1"), nullable=False))
        batch.add_column(sa.Column("purged_by", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_audit_log_occurred_at"), ["occurred_at"], unique=False)
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
    )
    op.create_index(op.f("ix_audit_anchors_sequence"), "audit_anchors", ["sequence"], unique=False)
    op.create_table(
        "audit_exports",
        sa.Column("export_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("export_id", name=op.f("pk_audit_exports")),
    )
    op.create_index(op.f("ix_audit_exports_tenant"), "audit_exports", ["tenant"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_exports_tenant"), table_name="audit_exports")
    op.drop_table("audit_exports")
    op.drop_index(op.f("ix_audit_anchors_sequence"), table_name="audit_anchors")
    op.drop_table("audit_anchors")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index(batch.f("ix_audit_log_occurred_at"))
        batch.drop_column("purged_by")
        batch.drop_column("hash_format")
