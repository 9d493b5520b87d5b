"""Documents: ``assigned_version`` (database-guarded version numbers) and ``screening`` labels.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("assigned_version", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("screening", sa.JSON(), nullable=True))
    # Every version assigned so far is the committed one.
    op.execute("UPDATE documents SET assigned_version = version, screening = '{}'")
    with op.batch_alter_table("documents") as batch:
        batch.alter_column("screening", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("screening")
        batch.drop_column("assigned_version")
