"""Events and profile entries keep the order they were written in (``seq``): events of the same time, such as the
lines of one basket, are read back in their file's order instead of their ids' order. Rows stored before get 0
(their order among themselves stays the ids' order).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 13:55:57.114526
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False))

    with op.batch_alter_table("profile_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("profile_entries", schema=None) as batch_op:
        batch_op.drop_column("seq")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("seq")
