"""Adapter integrity: ``finetune_adapters.digest``, the SHA-256 of the weight files at registration.

Existing rows are hashed here, from the files as they are at upgrade time (trust on first use, as
the gates' report already refers to these files). A row whose files are gone keeps ``NULL``: it can
be neither activated nor served (``gateway.finetune.integrity``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.finetune.integrity import AdapterIntegrityError, adapter_digest

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("finetune_adapters") as batch:
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    adapters = sa.table("finetune_adapters", sa.column("id", sa.Integer), sa.column("path", sa.Text),
                        sa.column("digest", sa.String))  # fmt: skip
    conn = op.get_bind()
    for row in conn.execute(sa.select(adapters.c.id, adapters.c.path)).all():
        try:
            digest = adapter_digest(row.path)
        except (AdapterIntegrityError, OSError):
            continue
        conn.execute(sa.update(adapters).where(adapters.c.id == row.id).values(digest=digest))


def downgrade() -> None:
    with op.batch_alter_table("finetune_adapters") as batch:
        batch.drop_column("digest")
