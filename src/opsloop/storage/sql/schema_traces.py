"""Tables of MLflow 3 traces (on the shared metadata; migrations ``t001_traces``, ``t002_trace_assessments``).

A trace's info lives here; its spans are the ``traces.json`` artifact the client uploads to the
location named by the ``mlflow.artifactLocation`` tag, as MLflow's own server keeps them.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from opsloop.storage.sql.schema import metadata

__all__ = ["trace_assessments", "trace_info", "trace_metadata", "trace_tags"]

trace_info = Table(
    "trace_info",
    metadata,
    Column("trace_id", String(128), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("client_request_id", String(250), nullable=True),
    Column("request_time", BigInteger, nullable=False),
    Column("execution_duration", BigInteger, nullable=True),
    Column("state", String(32), nullable=False),
    Column("request_preview", Text, nullable=True),
    Column("response_preview", Text, nullable=True),
    Index("ix_trace_info_experiment_id_request_time", "experiment_id", "request_time"),
)

trace_tags = Table(
    "trace_tags",
    metadata,
    Column("trace_id", String(128), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("trace_id", "key"),
    Index("ix_trace_tags_key_trace_id", "key", "trace_id"),
)

trace_metadata = Table(
    "trace_metadata",
    metadata,
    Column("trace_id", String(128), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("trace_id", "key"),
    Index("ix_trace_metadata_key_trace_id", "key", "trace_id"),
)

# Feedback and expectations on traces; MLflow's remaining fields are the JSON object in ``body``.
trace_assessments = Table(
    "trace_assessments",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("trace_id", String(128), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("overrides", String(64), nullable=True),
    Column("body", Text, nullable=False),
    Index("ix_trace_assessments_trace_id", "trace_id", "create_time"),
)
