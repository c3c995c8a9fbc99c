"""At most one active ranker version (a partial unique index), and each version's checkpoint SHA-256.

Concurrent activations on PostgreSQL could leave two active rows; a store that has them keeps the newest active
(the highest number) before the index is made. Versions registered before have no checksum (NULL): activating one
loads its checkpoint instead of comparing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEX = "ux_ranker_model_versions_one_active"


def upgrade() -> None:
    versions = sa.table("ranker_model_versions", sa.column("number", sa.Integer), sa.column("active", sa.Boolean))
    newest = sa.select(sa.func.max(versions.c.number)).where(versions.c.active == sa.true()).scalar_subquery()
    op.execute(versions.update().where(versions.c.active == sa.true(), versions.c.number < newest).values(active=False))
    with op.batch_alter_table("ranker_model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sha256", sa.String(), nullable=True))
        batch_op.create_index(
            _INDEX, ["active"], unique=True, sqlite_where=sa.text("active"), postgresql_where=sa.text("active")
        )


def downgrade() -> None:
    with op.batch_alter_table("ranker_model_versions", schema=None) as batch_op:
        batch_op.drop_index(_INDEX)
        batch_op.drop_column("sha256")
