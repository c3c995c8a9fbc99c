"""The catalog state the events were last synced against (``catalog_sync_state``, one row): an import into a store
whose live catalog has not changed since the last sync skips the sync, which reads every item the events name.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_sync_state",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=512), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade() -> None:
    op.drop_table("catalog_sync_state")
