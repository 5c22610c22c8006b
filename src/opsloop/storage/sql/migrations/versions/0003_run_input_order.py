"""The order a run's dataset inputs were logged in

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # inputs logged before this revision keep no order (NULL) and read first, as before: by dataset id
    op.add_column("run_inputs", sa.Column("position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_inputs") as batch:
        batch.drop_column("position")
