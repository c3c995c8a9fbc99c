"""An index of ``events`` by time (``ix_events_ts``): the service's popularity and active users read only the newest
window of events (``RECSEARCH_SERVICE_POPULARITY_DAYS`` back from the newest event, at most
``RECSEARCH_SERVICE_POPULARITY_MAX_EVENTS``), and the newest time itself is one index lookup, not a table scan.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_ts", "events", ["ts"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_ts", table_name="events")
