"""MLflow 3 logged-model endpoints."""

from __future__ import annotations

from typing import Any

from opsloop.errors import InvalidInputError
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import api_route
from opsloop.server.mlflow._json import logged_model_json
from opsloop.server.wire import Body, key_values, to_dict

__all__ = ["routes"]

_STATUS_NAMES = {1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY", 3: "LOGGED_MODEL_UPLOAD_FAILED"}


def create(rt: Runtime, b: Body) -> dict[str, Any]:
    model = rt.tracking.create_logged_model(
        experiment_id=b.str("experiment_id", required=True),
        name=b.str("name") or None,
        source_run_id=b.str("source_run_id") or None,
        tags=dict(key_values(b.list("tags"), "tags")),
        params=dict(key_values(b.list("params"), "params")),
        model_type=b.str("model_type") or None,
    )
    return {"model": logged_model_json(model)}


def get(rt: Runtime, b: Body) -> dict[str, Any]:
    return {"model": logged_model_json(rt.tracking.get_logged_model(b.str("model_id", required=True)))}


def finalize(rt: Runtime, b: Body) -> dict[str, Any]:
    status = b.data.get("status")
    status = _STATUS_NAMES.get(status, status) if isinstance(status, int) else status
    if not isinstance(status, str):
        raise InvalidInputError("Missing value for required parameter 'status'.", field="status")
    return {"model": logged_model_json(rt.tracking.finalize_logged_model(b.str("model_id", required=True), status))}


def delete(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.delete_logged_model(b.str("model_id", required=True))
    return {}


def set_tags(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.set_logged_model_tags(b.str("model_id", required=True), dict(key_values(b.list("tags"), "tags")))
    return {}


def delete_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.delete_logged_model_tag(b.str("model_id", required=True), b.str("tag_key", required=True))
    return {}


def log_params(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.log_logged_model_params(b.str("model_id", required=True),
                                        dict(key_values(b.list("params"), "params")))
    return {}


def _dataset_refs(items: list[Any], field: str) -> list[dict[str, Any]]:
    """``order_by`` or ``datasets`` entries: objects whose dataset name and digest are strings if given."""
    out = []
    for i, item in enumerate(items):
        d = to_dict(item, f"{field}[{i}]")
        for key in ("dataset_name", "dataset_digest"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise InvalidInputError(f"{field}[{i}].{key} must be a string", field=field)
        out.append(d)
    return out


def search(rt: Runtime, b: Body) -> dict[str, Any]:
    order = _dataset_refs(b.list("order_by"), "order_by")
    for d in order:
        if not isinstance(d.get("field_name"), str):
            raise InvalidInputError("order_by entries need a field_name", field="order_by")
        d["ascending"] = bool(d.get("ascending", True))
    models, token = rt.tracking.search_logged_models(
        b.list("experiment_ids"), b.str("filter"), b.int("max_results", default=100), order, b.str("page_token"),
        datasets=_dataset_refs(b.list("datasets"), "datasets"))
    out: dict[str, Any] = {"models": [logged_model_json(m) for m in models]}
    if token:
        out["next_page_token"] = token
    return out


routes = [
    *api_route("/logged-models", ["POST"], create),
    *api_route("/logged-models/search", ["POST"], search),
    *api_route("/logged-models/{model_id}", ["GET"], get),
    *api_route("/logged-models/{model_id}", ["PATCH"], finalize),
    *api_route("/logged-models/{model_id}", ["DELETE"], delete),
    *api_route("/logged-models/{model_id}/tags", ["PATCH"], set_tags),
    *api_route("/logged-models/{model_id}/tags/{tag_key}", ["DELETE"], delete_tag),
    *api_route("/logged-models/{model_id}/params", ["POST"], log_params),
]
