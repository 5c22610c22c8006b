"""An index on the metric points of logged models

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHERE = sa.text("model_id != ''")


def upgrade() -> None:
    op.create_index("ix_metrics_model_id", "metrics", ["model_id"], sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index("ix_metrics_model_id", table_name="metrics")
