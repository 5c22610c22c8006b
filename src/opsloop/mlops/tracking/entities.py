"""Tracking entities, with MLflow's semantics and field names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Assessment",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "LoggedModel",
    "Metric",
    "Run",
    "RunInfo",
    "TraceInfo",
    "ViewType",
]


class ViewType:
    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def parse(cls, value: object) -> int:
        names = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}
        if value in (None, ""):
            return cls.ACTIVE_ONLY
        if isinstance(value, int) and value in (1, 2, 3):
            return value
        if isinstance(value, str) and value.upper() in names:
            return names[value.upper()]
        from opsloop.errors import InvalidInputError

        raise InvalidInputError(f"Invalid view type {value!r}", field="view_type")

    @staticmethod
    def stages(view: int) -> tuple[str, ...]:
        return {1: ("active",), 2: ("deleted",), 3: ("active", "deleted")}[view]


RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


@dataclass(slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str = ""
    dataset_name: str = ""
    dataset_digest: str = ""
    run_id: str = ""

    @property
    def is_nan(self) -> bool:
        return math.isnan(self.value)


@dataclass(slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str


@dataclass(slots=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(slots=True)
class DatasetInput:
    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Run:
    info: RunInfo
    metrics: list[Metric] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[str] = field(default_factory=list)
    model_outputs: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class LoggedModel:
    model_id: str
    experiment_id: str
    name: str
    artifact_uri: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    status: str
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    registrations: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class TraceInfo:
    """One trace's record (MLflow's ``TraceInfoV3``): times are milliseconds; ``state`` is one of
    ``storage.sql.traces.TRACE_STATES``."""

    trace_id: str
    experiment_id: str
    request_time: int
    state: str
    execution_duration: int | None = None
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: list[Assessment] = field(default_factory=list)


@dataclass(slots=True)
class Assessment:
    """Feedback or an expectation on a trace (MLflow's ``Assessment``); times are milliseconds.

    ``body`` holds MLflow's other fields as the client sent them (``source``, ``feedback`` or
    ``expectation``, ``rationale``, ``metadata``, ``span_id``, ``run_id``); ``valid`` turns false once
    another assessment ``overrides`` this one.
    """

    assessment_id: str
    trace_id: str
    name: str
    create_time: int
    last_update_time: int
    body: dict[str, Any] = field(default_factory=dict)
    valid: bool = True
    overrides: str | None = None
