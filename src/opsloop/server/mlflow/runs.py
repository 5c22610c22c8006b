"""MLflow run endpoints: lifecycle, logging, metric history, inputs/outputs and search."""

from __future__ import annotations

import time
from typing import Any

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking.entities import Dataset, DatasetInput, Metric, ViewType
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import api_route
from opsloop.server.mlflow._json import metric_json, run_info_json, run_json
from opsloop.server.wire import Body, key_values, to_dict, to_float, to_int

__all__ = ["routes"]


def create(rt: Runtime, b: Body) -> dict[str, Any]:
    run = rt.tracking.create_run(
        experiment_id=b.str("experiment_id") or "0",
        user_id=b.str("user_id") or "",
        start_time=b.int("start_time"),
        tags=dict(key_values(b.list("tags"), "tags")),
        run_name=b.str("run_name") or None,
    )
    return {"run": run_json(run)}


def get(rt: Runtime, b: Body) -> dict[str, Any]:
    return {"run": run_json(rt.tracking.get_run(b.run_id()))}


def update(rt: Runtime, b: Body) -> dict[str, Any]:
    info = rt.tracking.update_run_info(b.run_id(), b.str("status"), b.int("end_time"), b.str("run_name"))
    return {"run_info": run_info_json(info)}


def delete(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.delete_run(b.run_id())
    return {}


def restore(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.restore_run(b.run_id())
    return {}


def _metric(item: Any, name: str) -> Metric:
    if type(item) is dict and len(item) <= 4:  # fast path: {key, value, timestamp, step} with plain types
        key, value, ts, step = item.get("key"), item.get("value"), item.get("timestamp"), item.get("step", 0)
        if type(key) is str and (type(value) is float or type(value) is int) and type(ts) is int and type(step) is int:
            return Metric(key, float(value), ts, step)
    d = to_dict(item, name)
    key = d.get("key")
    if not isinstance(key, str):
        raise InvalidInputError(f"Invalid value for '{name}.key': expected a string", field="key")
    if d.get("value") is None:
        raise InvalidInputError(f"Missing value for required parameter 'value' of metric '{key}'", field="value")
    return Metric(
        key=key,
        value=to_float(d["value"], "value"),
        timestamp=to_int(d["timestamp"], "timestamp") if d.get("timestamp") is not None else int(time.time() * 1000),
        step=to_int(d.get("step") or 0, "step"),
        model_id=str(d.get("model_id") or ""),
        dataset_name=str(d.get("dataset_name") or ""),
        dataset_digest=str(d.get("dataset_digest") or ""),
    )


def log_metric(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.log_metric(b.run_id(), _metric(b.data, "metric"))
    return {}


def log_param(rt: Runtime, b: Body) -> dict[str, Any]:
    value = b.str("value")
    rt.tracking.log_param(b.run_id(), b.str("key", required=True), "" if value is None else value)
    return {}


def set_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    value = b.str("value")
    rt.tracking.set_tag(b.run_id(), b.str("key", required=True), "" if value is None else value)
    return {}


def delete_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.delete_tag(b.run_id(), b.str("key", required=True))
    return {}


def log_batch(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.log_batch(
        b.run_id(),
        metrics=b.list("metrics", _metric),
        param_list=key_values(b.list("params"), "params"),
        tags=dict(key_values(b.list("tags"), "tags")),
    )
    return {}


def log_model(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.record_logged_model(b.run_id(), b.str("model_json", required=True))
    return {}


def _dataset_input(item: Any, name: str) -> DatasetInput:
    d = to_dict(item, name)
    ds = to_dict(d.get("dataset") or {}, f"{name}.dataset")
    return DatasetInput(
        # A missing field becomes "", which the store rejects with the field's name (as it does None).
        Dataset(ds.get("name", ""), ds.get("digest", ""), ds.get("source_type", ""), ds.get("source", ""),
                ds.get("schema"), ds.get("profile")),
        dict(key_values(d.get("tags") or [], f"{name}.tags")),
    )


def log_inputs(rt: Runtime, b: Body) -> dict[str, Any]:
    models = [to_dict(m, "models").get("model_id") for m in b.list("models")]
    model_ids = [m for m in models if isinstance(m, str) and m]
    if len(model_ids) != len(models):
        raise InvalidInputError("Each model input needs a model_id", field="models")
    rt.tracking.log_inputs(b.run_id(), b.list("datasets", _dataset_input), model_ids)
    return {}


def log_outputs(rt: Runtime, b: Body) -> dict[str, Any]:
    models = []
    for i, m in enumerate(b.list("models")):
        d = to_dict(m, f"models[{i}]")
        if not isinstance(d.get("model_id"), str):
            raise InvalidInputError("Each model output needs a model_id", field="models")
        models.append((d["model_id"], to_int(d.get("step") or 0, "step")))
    rt.tracking.log_outputs(b.run_id(), models)
    return {}


def metric_history(rt: Runtime, b: Body) -> dict[str, Any]:
    metrics, token = rt.tracking.get_metric_history(
        b.run_id(), b.str("metric_key", required=True), b.int("max_results"), b.str("page_token"))
    out: dict[str, Any] = {"metrics": [metric_json(m) for m in metrics]}
    if token:
        out["next_page_token"] = token
    return out


def _bulk_interval_args(b: Body) -> tuple[list[str], int, int | None, int | None]:
    """The run ids, points per run and step range of a bulk-interval request, checked as MLflow checks them."""
    run_ids = b.list("run_ids")
    if not run_ids:
        raise InvalidInputError("Missing value for required parameter 'run_ids'.", field="run_ids")
    if not all(isinstance(r, str) for r in run_ids):
        raise InvalidInputError("run_ids must be a list of strings", field="run_ids")
    if len(run_ids) > limits.MAX_RUNS_METRIC_HISTORY_BULK:
        raise InvalidInputError(f"GetMetricHistoryBulkInterval request must specify at most "
                                f"{limits.MAX_RUNS_METRIC_HISTORY_BULK} run_ids. Received {len(run_ids)} run_ids.",
                                field="run_ids")
    limit = limits.MAX_RESULTS_PER_RUN_METRIC_HISTORY_BULK
    max_results = b.int("max_results", default=limit)
    if not 1 <= max_results <= limit:
        raise InvalidInputError(f"max_results must be between 1 and {limit}.", field="max_results")
    start, end = b.int("start_step"), b.int("end_step")
    if (start is None) != (end is None):
        raise InvalidInputError("If either start step or end step are specified, both must be specified.",
                                field="start_step" if start is None else "end_step")
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"end_step must be greater than start_step. Found start_step={start} and "
                                f"end_step={end}.", field="end_step")
    return run_ids, max_results, start, end


def metric_history_bulk_interval(rt: Runtime, b: Body) -> dict[str, Any]:
    key = b.str("metric_key", required=True)
    run_ids, max_results, start, end = _bulk_interval_args(b)
    out = []
    for run_id in run_ids:
        try:
            points, _ = rt.tracking.get_metric_history(run_id, key)
        except NotFoundError:  # as in MLflow, a run that does not exist has no points
            continue
        points = [p for p in points if (start is None or p.step >= start) and (end is None or p.step <= end)]
        if len(points) > max_results:
            stride = len(points) / max_results
            points = [points[int(i * stride)] for i in range(max_results - 1)] + [points[-1]]
        out += [metric_json(p) for p in points]
    return {"metrics": out}


def search(rt: Runtime, b: Body) -> dict[str, Any]:
    exp_ids = b.list("experiment_ids")
    if not all(isinstance(e, str) for e in exp_ids):
        raise InvalidInputError("experiment_ids must be a list of strings", field="experiment_ids")
    runs, token = rt.tracking.search_runs(
        experiment_ids=exp_ids,
        filter_string=b.str("filter"),
        run_view_type=ViewType.parse(b.data.get("run_view_type")),
        max_results=b.int("max_results", default=1000),
        order_by=b.list("order_by"),
        page_token=b.str("page_token"),
    )
    out: dict[str, Any] = {"runs": [run_json(r) for r in runs]}
    if token:
        out["next_page_token"] = token
    return out


routes = [
    *api_route("/runs/create", ["POST"], create),
    *api_route("/runs/get", ["GET"], get),
    *api_route("/runs/update", ["POST"], update),
    *api_route("/runs/delete", ["POST"], delete),
    *api_route("/runs/restore", ["POST"], restore),
    *api_route("/runs/log-metric", ["POST"], log_metric),
    *api_route("/runs/log-parameter", ["POST"], log_param),
    *api_route("/runs/set-tag", ["POST"], set_tag),
    *api_route("/runs/delete-tag", ["POST"], delete_tag),
    *api_route("/runs/log-batch", ["POST"], log_batch),
    *api_route("/runs/log-model", ["POST"], log_model),
    *api_route("/runs/log-inputs", ["POST"], log_inputs),
    *api_route("/runs/outputs", ["POST"], log_outputs),
    *api_route("/runs/search", ["POST"], search),
    *api_route("/metrics/get-history", ["GET"], metric_history),
    *api_route("/metrics/get-history-bulk-interval", ["GET"], metric_history_bulk_interval),
]
