"""runbook runs

Revision ID: r001
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "r001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aiops_runbook_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("runbook", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("candidate_version", sa.String(length=32), nullable=True),
        sa.Column("validation", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_runbook_runs")),
    )
    op.create_index("ix_aiops_runbook_runs_state", "aiops_runbook_runs", ["state", "created_at"])
    op.create_index("ix_aiops_runbook_runs_incident", "aiops_runbook_runs", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_aiops_runbook_runs_incident", table_name="aiops_runbook_runs")
    op.drop_index("ix_aiops_runbook_runs_state", table_name="aiops_runbook_runs")
    op.drop_table("aiops_runbook_runs")
