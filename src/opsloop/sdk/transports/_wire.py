"""MLflow REST JSON ↔ opsloop entities, and MLflow error bodies → ``opsloop.errors`` exceptions."""

from __future__ import annotations

import math
from typing import Any

from opsloop import errors
from opsloop.mlops.tracking.entities import Dataset, DatasetInput, Experiment, Metric, Run, RunInfo
from opsloop.mlops.tracking.lifecycle import NOT_ACTIVE, NotActiveError

__all__ = ["error_from_body", "experiment_from_json", "metric_from_json", "num", "run_from_json"]

_CODES: dict[str, type[errors.OpsloopError]] = {
    "RESOURCE_DOES_NOT_EXIST": errors.NotFoundError,
    "ENDPOINT_NOT_FOUND": errors.NotFoundError,
    "RESOURCE_ALREADY_EXISTS": errors.AlreadyExistsError,
    "INVALID_PARAMETER_VALUE": errors.InvalidInputError,
    "BAD_REQUEST": errors.InvalidInputError,
    "INVALID_STATE": errors.InvalidStateError,
    "VALIDATION_FAILED": errors.ValidationFailedError,
    "REQUEST_LIMIT_EXCEEDED": errors.RateLimitedError,
    "NOT_IMPLEMENTED": errors.MissingDependencyError,
    "TEMPORARILY_UNAVAILABLE": errors.StorageError,
}


def error_from_body(status: int, body: Any, text: str) -> errors.OpsloopError:
    """The domain error a server's error response stands for, keeping its message and field."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        cls = _CODES.get(str(body.get("error_code")))
        if cls is errors.InvalidInputError and NOT_ACTIVE in body["message"]:
            cls = NotActiveError  # MLflow's code for a write to a deleted run or experiment
        field = body.get("field") if isinstance(body.get("field"), str) else None
        return (cls or _by_status(status))(body["message"], field=field)
    return _by_status(status)(f"server answered HTTP {status}: {text[:300]}")


def _by_status(status: int) -> type[errors.OpsloopError]:
    """The error of an answer without a known MLflow error code: a 5xx is the server's trouble, not the caller's."""
    if status == 404:
        return errors.NotFoundError
    if status == 429:
        return errors.RateLimitedError
    return errors.StorageError if status >= 500 else errors.OpsloopError


def num(value: float) -> float | str:
    """A double for proto3 JSON: non-finite values travel as strings (JSON has no NaN)."""
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float(value: Any) -> float:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value) or float(value)
    return float(value)


def _kv(items: Any) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or []}


def experiment_from_json(d: dict[str, Any]) -> Experiment:
    return Experiment(str(d["experiment_id"]), d.get("name", ""), d.get("artifact_location", ""),
                      d.get("lifecycle_stage", "active"), int(d.get("creation_time") or 0),
                      int(d.get("last_update_time") or 0), _kv(d.get("tags")))


def metric_from_json(d: dict[str, Any], run_id: str = "") -> Metric:
    return Metric(d["key"], _float(d.get("value", 0.0)), int(d.get("timestamp") or 0), int(d.get("step") or 0),
                  d.get("model_id", ""), d.get("dataset_name", ""), d.get("dataset_digest", ""),
                  d.get("run_id", run_id))


def _dataset_input(d: dict[str, Any]) -> DatasetInput:
    ds = d.get("dataset") or {}
    return DatasetInput(Dataset(ds.get("name", ""), ds.get("digest", ""), ds.get("source_type", ""),
                                ds.get("source", ""), ds.get("schema"), ds.get("profile")), _kv(d.get("tags")))


def run_from_json(d: dict[str, Any]) -> Run:
    i = d["info"]
    run_id = i.get("run_id") or i.get("run_uuid")
    end = i.get("end_time")
    info = RunInfo(run_id, str(i.get("experiment_id", "")), i.get("run_name", ""), i.get("user_id", ""),
                   i.get("status", "RUNNING"), int(i.get("start_time") or 0), None if end is None else int(end),
                   i.get("artifact_uri", ""), i.get("lifecycle_stage", "active"))
    data, inputs, outputs = d.get("data") or {}, d.get("inputs") or {}, d.get("outputs") or {}
    return Run(
        info,
        metrics=[metric_from_json(m, run_id) for m in data.get("metrics") or []],
        params=_kv(data.get("params")),
        tags=_kv(data.get("tags")),
        dataset_inputs=[_dataset_input(x) for x in inputs.get("dataset_inputs") or []],
        model_inputs=[m["model_id"] for m in inputs.get("model_inputs") or []],
        model_outputs=[(m["model_id"], int(m.get("step") or 0)) for m in outputs.get("model_outputs") or []],
    )
