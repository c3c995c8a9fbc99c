"""Baseline: the schema of the last release before migrations (what its ``SQLModel.metadata.create_all`` made).

Every table and index is created only when missing, so a store made by that release is adopted as it is: with
all five tables, or with only those its commands had touched (which tables existed depended on which modules had
been imported), or with the events indexes a killed first import had dropped.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("query", sa.String(1024), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("in_catalog", sa.Boolean(), nullable=False),
        if_not_exists=True,
    )
    op.create_index("ix_events_user_ts", "events", ["user_id", "ts"], if_not_exists=True)
    op.create_index("ix_events_item", "events", ["item_id"], if_not_exists=True)

    op.create_table(
        "profile_entries",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        if_not_exists=True,
    )
    op.create_index("ix_profile_user_ts", "profile_entries", ["user_id", "ts"], if_not_exists=True)

    op.create_table(
        "event_imports",
        sa.Column("id", sa.Integer(), primary_key=True),  # SERIAL on PostgreSQL, INTEGER PRIMARY KEY on SQLite
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("events_added", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        if_not_exists=True,
    )
    op.create_index("ix_event_imports_fingerprint", "event_imports", ["fingerprint"], if_not_exists=True)

    op.create_table(
        "ranker_model_versions",
        sa.Column("version", sa.String(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("metrics_json", sa.String(), nullable=False),
        sa.Column("info_json", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        if_not_exists=True,
    )
    op.create_index("ix_ranker_model_versions_number", "ranker_model_versions", ["number"], unique=True,
                    if_not_exists=True)  # fmt: skip
    op.create_index("ix_ranker_model_versions_active", "ranker_model_versions", ["active"], if_not_exists=True)

    op.create_table(
        "enrichment_cache",
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(300), primary_key=True),
        sa.Column("prompt_version", sa.String(100), primary_key=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("attributes_json", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in ("enrichment_cache", "ranker_model_versions", "event_imports", "profile_entries", "events"):
        op.drop_table(table)
