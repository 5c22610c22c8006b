"""log templates and miner state

Revision ID: l001
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "l001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_templates",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_templates")),
    )
    op.create_index("ix_log_templates_service", "log_templates", ["service", "id"])
    op.create_table(
        "log_miner_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("snapshot_json", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_log_miner_state")),
    )


def downgrade() -> None:
    op.drop_table("log_miner_state")
    op.drop_index("ix_log_templates_service", table_name="log_templates")
    op.drop_table("log_templates")
