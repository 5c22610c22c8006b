"""metric sample history

Revision ID: p001
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "p001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aiops_metric_points",
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("series", "time", name=op.f("pk_aiops_metric_points")),
    )
    op.create_index("ix_aiops_metric_points_time", "aiops_metric_points", ["time"])


def downgrade() -> None:
    op.drop_index("ix_aiops_metric_points_time", table_name="aiops_metric_points")
    op.drop_table("aiops_metric_points")
