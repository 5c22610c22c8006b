"""Entities to MLflow's proto3 JSON shapes."""

from __future__ import annotations

from typing import Any

from opsloop.mlops.tracking.entities import Experiment, LoggedModel, Metric, Run, RunInfo
from opsloop.server.wire import num

__all__ = ["experiment_json", "kv_list", "logged_model_json", "metric_json", "run_info_json", "run_json"]


def kv_list(d: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in d.items()]


def experiment_json(e: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": e.experiment_id, "name": e.name, "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage, "last_update_time": e.last_update_time,
        "creation_time": e.creation_time, "tags": kv_list(e.tags),
    }


def metric_json(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {"key": m.key, "value": num(m.value), "timestamp": m.timestamp, "step": m.step}
    if m.run_id:
        out["run_id"] = m.run_id
    if m.model_id:
        out["model_id"] = m.model_id
    if m.dataset_name:
        out["dataset_name"] = m.dataset_name
        out["dataset_digest"] = m.dataset_digest
    return out


def run_info_json(i: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": i.run_id, "run_uuid": i.run_id, "run_name": i.run_name, "experiment_id": i.experiment_id,
        "user_id": i.user_id, "status": i.status, "start_time": i.start_time, "artifact_uri": i.artifact_uri,
        "lifecycle_stage": i.lifecycle_stage,
    }
    if i.end_time is not None:
        out["end_time"] = i.end_time
    return out


def run_json(r: Run) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if r.dataset_inputs:
        inputs["dataset_inputs"] = [{
            "tags": kv_list(di.tags),
            "dataset": {k: v for k, v in {
                "name": di.dataset.name, "digest": di.dataset.digest, "source_type": di.dataset.source_type,
                "source": di.dataset.source, "schema": di.dataset.schema, "profile": di.dataset.profile,
            }.items() if v is not None},
        } for di in r.dataset_inputs]
    if r.model_inputs:
        inputs["model_inputs"] = [{"model_id": m} for m in r.model_inputs]
    out: dict[str, Any] = {
        "info": run_info_json(r.info),
        "data": {
            # As MLflow's store does, a run's latest metrics carry no run_id (the run says it once).
            "metrics": [{"key": m.key, "value": num(m.value), "timestamp": m.timestamp, "step": m.step}
                        for m in r.metrics],
            "params": kv_list(r.params),
            "tags": kv_list(r.tags),
        },
        "inputs": inputs,
    }
    if r.model_outputs:
        out["outputs"] = {"model_outputs": [{"model_id": m, "step": s} for m, s in r.model_outputs]}
    return out


def logged_model_json(m: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": m.model_id, "experiment_id": m.experiment_id, "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp_ms, "last_updated_timestamp_ms": m.last_updated_timestamp_ms,
        "artifact_uri": m.artifact_uri, "status": m.status, "tags": kv_list(m.tags),
        "registrations": [{"name": n, "version": v} for n, v in m.registrations],
    }
    for key in ("model_type", "source_run_id", "status_message"):
        value = getattr(m, key)
        if value is not None:
            info[key] = value
    return {"info": info, "data": {"params": kv_list(m.params), "metrics": [metric_json(x) for x in m.metrics]}}
