"""Registry entities, with MLflow's semantics and field names plus opsloop's audit records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsloop.mlops.tracking.entities import DatasetInput, LoggedModel, Metric, Run

__all__ = ["Lineage", "ModelVersion", "Promotion", "RegisteredModel", "Validation"]


@dataclass(slots=True)
class ModelVersion:
    """One registered version. ``version`` is an int here; the wire format writes it as a string."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str
    source: str
    storage_location: str | None = None
    description: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    status: str = "READY"
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def download_uri(self) -> str:
        """Where the version's files are: the resolved storage location, else the source."""
        return self.storage_location or self.source


@dataclass(slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(slots=True)
class Promotion:
    """One audited alias move: ``to_version`` is None when the alias was removed."""

    id: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    validation_id: int | None
    time: int


@dataclass(slots=True)
class Validation:
    """A stored validation report of ``version`` (against ``champion_version`` when there was one)."""

    id: int
    name: str
    version: int
    champion_version: int | None
    passed: bool
    report: dict[str, Any]
    time: int


@dataclass(slots=True)
class Lineage:
    """Where a version came from: its run, the run's dataset inputs and metrics, its logged model."""

    model_version: ModelVersion
    run: Run | None = None
    logged_model: LoggedModel | None = None
    datasets: list[DatasetInput] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
