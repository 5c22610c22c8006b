"""aiops: signals, incidents, timeline, audit, silences, topology, notifications, config

Revision ID: a001
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "a001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aiops_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_audit")),
    )
    with op.batch_alter_table("aiops_audit", schema=None) as batch_op:
        batch_op.create_index("ix_aiops_audit_entity", ["entity", "entity_id"], unique=False)

    op.create_table(
        "aiops_config",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_aiops_config")),
    )
    op.create_table(
        "aiops_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("services", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=False),
        sa.Column("signal_count", sa.Integer(), nullable=False),
        sa.Column("open_signals", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("acknowledged_at", sa.Float(), nullable=True),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.Column("first_signal_at", sa.Float(), nullable=False),
        sa.Column("last_signal_at", sa.Float(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_incidents")),
    )
    with op.batch_alter_table("aiops_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_aiops_incidents_service", ["service"], unique=False)
        batch_op.create_index("ix_aiops_incidents_state", ["state", "updated_at"], unique=False)

    op.create_table(
        "aiops_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_notifications")),
    )
    with op.batch_alter_table("aiops_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_aiops_notifications_state", ["state", "next_attempt_at"], unique=False)

    op.create_table(
        "aiops_signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=40), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("last_time", sa.Float(), nullable=False),
        sa.Column("received", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("suppressed", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("grouping", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_signals")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_aiops_signals_dedup_key")),
    )
    with op.batch_alter_table("aiops_signals", schema=None) as batch_op:
        batch_op.create_index("ix_aiops_signals_fingerprint", ["fingerprint", "status"], unique=False)
        batch_op.create_index("ix_aiops_signals_incident", ["incident_id"], unique=False)
        batch_op.create_index("ix_aiops_signals_kind_time", ["kind", "time"], unique=False)
        batch_op.create_index("ix_aiops_signals_service_time", ["service", "time"], unique=False)

    op.create_table(
        "aiops_silences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_silences")),
    )
    op.create_table(
        "aiops_timeline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aiops_timeline")),
    )
    with op.batch_alter_table("aiops_timeline", schema=None) as batch_op:
        batch_op.create_index("ix_aiops_timeline_incident", ["incident_id", "time"], unique=False)

    op.create_table(
        "aiops_topology",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("source", "target", "origin", name=op.f("pk_aiops_topology")),
    )


def downgrade() -> None:
    op.drop_table("aiops_topology")
    with op.batch_alter_table("aiops_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_aiops_timeline_incident")

    op.drop_table("aiops_timeline")
    op.drop_table("aiops_silences")
    with op.batch_alter_table("aiops_signals", schema=None) as batch_op:
        batch_op.drop_index("ix_aiops_signals_service_time")
        batch_op.drop_index("ix_aiops_signals_kind_time")
        batch_op.drop_index("ix_aiops_signals_incident")
        batch_op.drop_index("ix_aiops_signals_fingerprint")

    op.drop_table("aiops_signals")
    with op.batch_alter_table("aiops_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_aiops_notifications_state")

    op.drop_table("aiops_notifications")
    with op.batch_alter_table("aiops_incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_aiops_incidents_state")
        batch_op.drop_index("ix_aiops_incidents_service")

    op.drop_table("aiops_incidents")
    op.drop_table("aiops_config")
    with op.batch_alter_table("aiops_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_aiops_audit_entity")

    op.drop_table("aiops_audit")
