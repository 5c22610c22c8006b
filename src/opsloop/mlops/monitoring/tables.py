"""SQL tables of production monitoring (one file, so they can move into the shared migrations)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

__all__ = ["drift_reports", "labels", "metadata", "references", "samples", "signals"]

metadata = MetaData()

samples = Table(
    "monitoring_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(256), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("row", Integer, nullable=False),
    Column("variant", String(32), nullable=False, default="champion"),
    Column("version", String(64), nullable=False, default=""),
    Column("time", Float, nullable=False),
    Column("features", Text, nullable=False),  # JSON object
    Column("prediction", Text, nullable=False),  # JSON value
    UniqueConstraint("model", "request_id", "row", "variant", name="uq_monitoring_samples_row"),
    Index("ix_monitoring_samples_model_id", "model", "id"),
)

labels = Table(
    "monitoring_labels", metadata,
    Column("model", String(256), primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("value", Text, nullable=False),  # JSON value
    Column("time", Float, nullable=False),
)

references = Table(
    "monitoring_references", metadata,
    Column("model", String(256), primary_key=True),
    Column("profile", Text, nullable=False),  # JSON, see drift.ReferenceProfile
    Column("time", Float, nullable=False),
)

drift_reports = Table(
    "monitoring_drift_reports", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(256), nullable=False, index=True),
    Column("time", Float, nullable=False),
    Column("report", Text, nullable=False),  # JSON, DriftReport.to_dict()
)

signals = Table(
    "monitoring_signals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("model", String(256), nullable=False, default=""),
    Column("fingerprint", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),  # JSON, Signal.to_dict()
)
