"""the notification outbox looked up by incident

Revision ID: a002
Revises: a001
Create Date: 2026-12-07
"""

from alembic import op

revision = "a002"
down_revision = "a001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the targets told of an incident, and the rows a retention pass keeps (the last one delivered to each
    # target of an incident): by incident, then target, not a scan of the whole outbox
    op.create_index("ix_aiops_notifications_incident", "aiops_notifications", ["incident_id", "target"])


def downgrade() -> None:
    op.drop_index("ix_aiops_notifications_incident", table_name="aiops_notifications")
