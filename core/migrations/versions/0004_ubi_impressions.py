"""Impressions in OpenSearch's UBI shape: ``ubi_queries`` (one row per answer of the service) and
``ubi_query_hits`` (what it showed, at which position, placed by what), and the ``query_id`` an event carries, which
attributes it to an answer. Events stored before have none (NULL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 21:33:30.738682
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ubi_queries",
        sa.Column("query_response_id", sa.String(length=64), nullable=False),
        sa.Column("query_id", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("user_query", sa.String(length=1024), nullable=True),
        sa.Column("application", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("personalized", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("query_response_id"),
    )
    with op.batch_alter_table("ubi_queries", schema=None) as batch_op:
        batch_op.create_index("ix_ubi_queries_query_id", ["query_id"], unique=False)
        batch_op.create_index("ix_ubi_queries_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "ubi_query_hits",
        sa.Column("query_response_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("query_id", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("placed_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("query_response_id", "position"),
    )
    with op.batch_alter_table("ubi_query_hits", schema=None) as batch_op:
        batch_op.create_index("ix_ubi_query_hits_query_object", ["query_id", "object_id"], unique=False)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("query_id", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_events_query_id", ["query_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_query_id")
        batch_op.drop_column("query_id")

    with op.batch_alter_table("ubi_query_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_ubi_query_hits_query_object")

    op.drop_table("ubi_query_hits")
    with op.batch_alter_table("ubi_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_ubi_queries_timestamp")
        batch_op.drop_index("ix_ubi_queries_query_id")

    op.drop_table("ubi_queries")
