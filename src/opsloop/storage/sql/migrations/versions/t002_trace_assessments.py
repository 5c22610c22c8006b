"""MLflow 3 trace assessments: feedback and expectations on traces

Revision ID: t002
Revises: t001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "t002"
down_revision = "t001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_assessments",
        sa.Column("assessment_id", sa.String(length=64), nullable=False),
        sa.Column("trace_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("overrides", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["trace_id"], ["trace_info.trace_id"],
                                name=op.f("fk_trace_assessments_trace_id_trace_info"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("assessment_id", name=op.f("pk_trace_assessments")),
    )
    op.create_index("ix_trace_assessments_trace_id", "trace_assessments", ["trace_id", "create_time"])


def downgrade() -> None:
    op.drop_index("ix_trace_assessments_trace_id", table_name="trace_assessments")
    op.drop_table("trace_assessments")
