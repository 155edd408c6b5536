"""An index for retention: notifications by state and last change.

The workers delete ``sent`` and ``failed`` notifications older than
``NOTIFICATION_RETENTION_DAYS`` (``notification_api.retention``): ``WHERE
status IN ('sent', 'failed') AND updated_at < cutoff``. Without this index
each sweep would read every finished row the retention keeps (a month of them
by default) to find the few it deletes; with it, only the expired ones.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notifications_finished", "notifications", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_finished", table_name="notifications")
