"""Online experiments: the ``experiments`` table (name, mode, the two ranker versions, traffic, state) with at most
one running, and the experiment an answer was served under (``ubi_queries.experiment``; NULL outside one).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:12:04.118302
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("control", sa.String(length=64), nullable=False),
        sa.Column("treatment", sa.String(length=64), nullable=False),
        sa.Column("traffic", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(
            "ux_experiments_one_running", ["state"], unique=True,
            sqlite_where=sa.text("state = 'running'"), postgresql_where=sa.text("state = 'running'"),
        )  # fmt: skip

    with op.batch_alter_table("ubi_queries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_ubi_queries_experiment", ["experiment"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ubi_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_ubi_queries_experiment")
        batch_op.drop_column("experiment")

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index("ux_experiments_one_running")

    op.drop_table("experiments")
