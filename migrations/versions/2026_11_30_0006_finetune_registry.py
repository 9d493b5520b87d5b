"""Fine-tuning registry: datasets with lineage, LoRA adapters with gate results, activations per tenant.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30 07:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finetune_datasets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("scrub_report", sa.JSON(), nullable=False),
        sa.Column("screen_report", sa.JSON(), nullable=False),
        sa.Column("split", sa.JSON(), nullable=False),
        sa.Column("pii_digests", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finetune_datasets")),
    )
    op.create_index(op.f("ix_finetune_datasets_tenant"), "finetune_datasets", ["tenant"])
    op.create_table(
        "finetune_adapters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("base", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("canaries", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["finetune_datasets.id"], name=op.f("fk_finetune_adapters_dataset_id_finetune_datasets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finetune_adapters")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_finetune_adapters_name")),
    )
    op.create_index(op.f("ix_finetune_adapters_tenant"), "finetune_adapters", ["tenant"])
    op.create_table(
        "finetune_activations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("adapter_id", sa.Integer(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=512), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["adapter_id"], ["finetune_adapters.id"], name=op.f("fk_finetune_activations_adapter_id_finetune_adapters")
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["finetune_adapters.id"], name=op.f("fk_finetune_activations_previous_id_finetune_adapters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finetune_activations")),
    )
    op.create_index(op.f("ix_finetune_activations_tenant"), "finetune_activations", ["tenant"])


def downgrade() -> None:
    op.drop_index(op.f("ix_finetune_activations_tenant"), table_name="finetune_activations")
    op.drop_table("finetune_activations")
    op.drop_index(op.f("ix_finetune_adapters_tenant"), table_name="finetune_adapters")
    op.drop_table("finetune_adapters")
    op.drop_index(op.f("ix_finetune_datasets_tenant"), table_name="finetune_datasets")
    op.drop_table("finetune_datasets")
