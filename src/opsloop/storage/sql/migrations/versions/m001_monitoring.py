"""production monitoring of served models: samples, labels, references, drift reports, signals

The server's model monitoring keeps these beside the registry (``opsloop.mlops.monitoring.tables``).
Servers of 2026-12-06 created them at start without a migration, so each is created only when it is
not there yet.

Revision ID: m001
Revises: 0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "m001"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("monitoring_samples", "monitoring_labels", "monitoring_references", "monitoring_drift_reports",
           "monitoring_signals")


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "monitoring_samples" not in present:
        op.create_table(
            "monitoring_samples",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("model", sa.String(length=256), nullable=False),
            sa.Column("request_id", sa.String(length=128), nullable=False),
            sa.Column("row", sa.Integer(), nullable=False),
            sa.Column("variant", sa.String(length=32), nullable=False),
            sa.Column("version", sa.String(length=64), nullable=False),
            sa.Column("time", sa.Float(), nullable=False),
            sa.Column("features", sa.Text(), nullable=False),
            sa.Column("prediction", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("model", "request_id", "row", "variant", name="uq_monitoring_samples_row"),
        )
        op.create_index("ix_monitoring_samples_model_id", "monitoring_samples", ["model", "id"])
    if "monitoring_labels" not in present:
        op.create_table(
            "monitoring_labels",
            sa.Column("model", sa.String(length=256), nullable=False),
            sa.Column("request_id", sa.String(length=128), nullable=False),
            sa.Column("row", sa.Integer(), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("time", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("model", "request_id", "row"),
        )
    if "monitoring_references" not in present:
        op.create_table(
            "monitoring_references",
            sa.Column("model", sa.String(length=256), nullable=False),
            sa.Column("profile", sa.Text(), nullable=False),
            sa.Column("time", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("model"),
        )
    if "monitoring_drift_reports" not in present:
        op.create_table(
            "monitoring_drift_reports",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("model", sa.String(length=256), nullable=False),
            sa.Column("time", sa.Float(), nullable=False),
            sa.Column("report", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_monitoring_drift_reports_model", "monitoring_drift_reports", ["model"])
    if "monitoring_signals" not in present:
        op.create_table(
            "monitoring_signals",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("time", sa.Float(), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("model", sa.String(length=256), nullable=False),
            sa.Column("fingerprint", sa.String(length=32), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_monitoring_signals_time", "monitoring_signals", ["time"])


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_table(name)
