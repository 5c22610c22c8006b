"""AIOps tables: signals, incidents, their timeline, audit, silences, topology, notifications, config.

They live on the one ``metadata`` of ``schema.py``; migration ``a001`` creates them. Times are epoch
seconds (floats); structured fields are JSON text so SQLite and PostgreSQL store them alike.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from opsloop.storage.sql.schema import metadata

__all__ = [
    "aiops_audit",
    "aiops_config",
    "aiops_detector_state",
    "aiops_incidents",
    "aiops_metric_points",
    "aiops_notifications",
    "aiops_runbook_runs",
    "aiops_signals",
    "aiops_silences",
    "aiops_timeline",
    "aiops_topology",
]

# One row per occurrence of a condition: re-sent alerts and exact duplicate records fold into it
# (``count`` and ``last_time`` grow); a resolved alert updates its row.
aiops_signals = Table(
    "aiops_signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(40), nullable=False, unique=True),
    Column("fingerprint", String(16), nullable=False),
    Column("time", Float, nullable=False),
    Column("last_time", Float, nullable=False),
    Column("received", Float, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("source", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("service", String(200), nullable=False, default=""),
    Column("severity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("resolved_at", Float, nullable=True),
    Column("text", Text, nullable=False, default=""),
    Column("labels", Text, nullable=False, default="{}"),
    Column("values", Text, nullable=False, default="{}"),
    Column("evidence", Text, nullable=False, default="{}"),
    Column("suppressed", String(200), nullable=False, default=""),
    Column("incident_id", Integer, nullable=True),
    # why the correlator put this signal where it is (JSON: reasons and score), written once
    Column("grouping", Text, nullable=False, default=""),
    Index("ix_aiops_signals_fingerprint", "fingerprint", "status"),
    Index("ix_aiops_signals_incident", "incident_id"),
    Index("ix_aiops_signals_service_time", "service", "time"),
    Index("ix_aiops_signals_kind_time", "kind", "time"),
)

aiops_incidents = Table(
    "aiops_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("service", String(200), nullable=False, default=""),
    Column("services", Text, nullable=False, default="[]"),
    Column("labels", Text, nullable=False, default="{}"),
    Column("assignee", String(200), nullable=False, default=""),
    Column("signal_count", Integer, nullable=False, default=0),
    Column("open_signals", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("acknowledged_at", Float, nullable=True),
    Column("resolved_at", Float, nullable=True),
    Column("first_signal_at", Float, nullable=False),
    Column("last_signal_at", Float, nullable=False),
    Column("resolution", Text, nullable=False, default=""),
    Column("merged_into", Integer, nullable=True),
    Column("reasons", Text, nullable=False, default="[]"),  # operator-made groupings (merge, split)
    Column("flags", Text, nullable=False, default="[]"),
    Index("ix_aiops_incidents_state", "state", "updated_at"),
    Index("ix_aiops_incidents_service", "service"),
)

# Everything that happened to an incident besides its signals (those are joined in when read).
aiops_timeline = Table(
    "aiops_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    Column("time", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("actor", String(200), nullable=False, default=""),
    Column("data", Text, nullable=False, default="{}"),
    Index("ix_aiops_timeline_incident", "incident_id", "time"),
)

# Who changed what, across incidents, silences, topology and notification targets.
aiops_audit = Table(
    "aiops_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("data", Text, nullable=False, default="{}"),
    Index("ix_aiops_audit_entity", "entity", "entity_id"),
)

# Silences and maintenance windows: Alertmanager-style matchers over a time range.
aiops_silences = Table(
    "aiops_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, default="silence"),
    Column("matchers", Text, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_by", String(200), nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

# Service dependency edges: ``source`` depends on (calls) ``target``; declared or learned.
aiops_topology = Table(
    "aiops_topology",
    metadata,
    Column("source", String(200), nullable=False),
    Column("target", String(200), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("weight", Float, nullable=False, default=1.0),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("source", "target", "origin"),
)

# The outbox: every notification is a row until delivered; ``dead`` rows are the dead letters. Delivered
# rows go after a retention, but for the last one of each target and incident (``prune_delivered``).
aiops_notifications = Table(
    "aiops_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("incident_id", Integer, nullable=True),
    Column("event", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Index("ix_aiops_notifications_state", "state", "next_attempt_at"),
    Index("ix_aiops_notifications_incident", "incident_id", "target"),
)

# Small named documents: notification targets, inhibition rules, Prometheus pull queries…
aiops_config = Table(
    "aiops_config",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Every ingested metric sample, for a retention window (migration ``p001_metric_points``). A series is
# named by the fingerprint of its ``metric`` row in aiops_signals, which keeps its labels and latest value.
aiops_metric_points = Table(
    "aiops_metric_points",
    metadata,
    Column("series", String(32), primary_key=True),
    Column("time", Float, primary_key=True),
    Column("value", Float, nullable=True),  # NULL where the sample was NaN (SQLite stores NaN as NULL)
    Index("ix_aiops_metric_points_time", "time"),
)

# Every runbook run (migration ``r001_runbook_runs``). A ``queued`` row is the durable request: it is
# written in the transaction of the incident change that triggered it, so a restart loses no run.
# ``payload`` is the incident as it was then (the JSON a command gets on stdin); ``validation`` the gate's
# summary of a retrain run.
aiops_runbook_runs = Table(
    "aiops_runbook_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("runbook", String(200), nullable=False),
    Column("action", String(16), nullable=False),
    Column("incident_id", Integer, nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("spec", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("output", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("candidate_version", String(32), nullable=True),
    Column("validation", Text, nullable=False, default="{}"),
    Index("ix_aiops_runbook_runs_state", "state", "created_at"),
    Index("ix_aiops_runbook_runs_incident", "incident_id"),
)

# The checkpoint of each series a metric detector watches (migration ``d001_detector_state``), so a restart
# resumes what the detectors learned. ``key`` is a digest of the series' labels; ``state`` the JSON of
# ``MetricWatch``'s per-series checkpoint (labels, rule, its signature, points; the learned parts — detector,
# alerter, forecaster — as one JSON string under ``learned``, parsed only when the series is built).
aiops_detector_state = Table(
    "aiops_detector_state",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("rule", String(200), nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
