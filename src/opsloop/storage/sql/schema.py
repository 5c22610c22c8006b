"""Table definitions (SQLAlchemy Core). Every change here needs a migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- tracking -------------------------------------------------------------------------------------

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(250), nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("status", String(20), nullable=False, default="RUNNING"),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("artifact_uri", Text, nullable=False),
    Column("lifecycle_stage", String(20), nullable=False, default="active"),
    Column("deleted_time", BigInteger, nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index("ix_params_key_value", "key", "run_uuid"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index("ix_tags_key", "key", "run_uuid"),
)

# Full history. The primary key makes re-sending the same point (a client retry) idempotent, as in MLflow.
metrics = Table(
    "metrics",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False, default=0),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("model_id", String(64), nullable=False, default=""),
    Column("dataset_name", String(500), nullable=False, default=""),
    Column("dataset_digest", String(36), nullable=False, default=""),
    PrimaryKeyConstraint("run_uuid", "key", "step", "timestamp", "value", "is_nan", "model_id"),
    # a logged model's metrics (reading or searching logged models scanned the whole history without
    # it); partial: the points of runs alone (model_id '') are most rows and are never looked up by it
    Index("ix_metrics_model_id", "model_id", sqlite_where=text("model_id != ''"),
          postgresql_where=text("model_id != ''")),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_uuid", String(36), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text, nullable=True),
    Column("profile", Text, nullable=True),
    UniqueConstraint("experiment_id", "name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("dataset_uuid", String(36), ForeignKey("datasets.dataset_uuid"), nullable=False),
    Column("tags_json", Text, nullable=False, default="{}"),
    Column("context", String(500), nullable=False, default=""),
    Column("position", Integer, nullable=True),  # the order the run's inputs were logged in (migration 0003)
    PrimaryKeyConstraint("run_uuid", "dataset_uuid"),
)

run_model_inputs = Table(
    "run_model_inputs",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("model_id", String(64), nullable=False),
    PrimaryKeyConstraint("run_uuid", "model_id"),
)

run_model_outputs = Table(
    "run_model_outputs",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid"), nullable=False),
    Column("model_id", String(64), nullable=False),
    Column("step", BigInteger, nullable=False, default=0),
    PrimaryKeyConstraint("run_uuid", "model_id"),
)

logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("model_type", String(500), nullable=True),
    Column("source_run_id", String(32), nullable=True),
    Column("status_message", Text, nullable=True),
    Index("ix_logged_models_experiment", "experiment_id", "creation_timestamp_ms"),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(64), ForeignKey("logged_models.model_id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(64), ForeignKey("logged_models.model_id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

# --- model registry -------------------------------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", onupdate="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "key"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", onupdate="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("current_stage", String(20), nullable=False, default="None"),
    Column("source", Text, nullable=False),
    Column("storage_location", Text, nullable=True),
    Column("run_id", String(32), nullable=True),
    Column("run_link", Text, nullable=True),
    Column("model_id", String(64), nullable=True),
    Column("status", String(20), nullable=False, default="READY"),
    Column("status_message", Text, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("name", "version"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "version", "key"),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", onupdate="CASCADE"), nullable=False),
    Column("alias", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("name", "alias"),
)

# Every alias move is an audited promotion: who, when, why, and the validation that allowed it.
model_promotions = Table(
    "model_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("alias", String(255), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(256), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("validation_id", Integer, nullable=True),
    Column("time", BigInteger, nullable=False),
    Index("ix_model_promotions_name", "name", "time"),
)

model_validations = Table(
    "model_validations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("champion_version", Integer, nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("report_json", Text, nullable=False),
    Column("time", BigInteger, nullable=False),
    Index("ix_model_validations_version", "name", "version"),
)
