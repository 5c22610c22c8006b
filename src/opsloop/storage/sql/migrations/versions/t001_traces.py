"""MLflow 3 traces: trace info, tags and metadata

Revision ID: t001
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "t001"
down_revision = "0001"
branch_labels = None
depends_on = None


def _key_value_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("trace_id", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["trace_id"], ["trace_info.trace_id"], name=op.f(f"fk_{name}_trace_id_trace_info"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trace_id", "key", name=op.f(f"pk_{name}")),
    )
    op.create_index(f"ix_{name}_key_trace_id", name, ["key", "trace_id"])


def upgrade() -> None:
    op.create_table(
        "trace_info",
        sa.Column("trace_id", sa.String(length=128), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("client_request_id", sa.String(length=250), nullable=True),
        sa.Column("request_time", sa.BigInteger(), nullable=False),
        sa.Column("execution_duration", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("request_preview", sa.Text(), nullable=True),
        sa.Column("response_preview", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name=op.f("fk_trace_info_experiment_id_experiments")),
        sa.PrimaryKeyConstraint("trace_id", name=op.f("pk_trace_info")),
    )
    op.create_index("ix_trace_info_experiment_id_request_time", "trace_info", ["experiment_id", "request_time"])
    _key_value_table("trace_tags")
    _key_value_table("trace_metadata")


def downgrade() -> None:
    for name in ("trace_metadata", "trace_tags"):
        op.drop_index(f"ix_{name}_key_trace_id", table_name=name)
        op.drop_table(name)
    op.drop_index("ix_trace_info_experiment_id_request_time", table_name="trace_info")
    op.drop_table("trace_info")
