"""MLflow experiment endpoints."""

from __future__ import annotations

from typing import Any

from opsloop.mlops.tracking.entities import ViewType
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import api_route
from opsloop.server.mlflow._json import experiment_json
from opsloop.server.wire import Body, key_values

__all__ = ["routes"]


def create(rt: Runtime, b: Body) -> dict[str, Any]:
    tags = dict(key_values(b.list("tags"), "tags"))
    exp_id = rt.tracking.create_experiment(b.str("name", required=True), b.str("artifact_location") or None, tags)
    return {"experiment_id": exp_id}


def get(rt: Runtime, b: Body) -> dict[str, Any]:
    return {"experiment": experiment_json(rt.tracking.get_experiment(b.str("experiment_id", required=True)))}


def get_by_name(rt: Runtime, b: Body) -> dict[str, Any]:
    return {"experiment": experiment_json(rt.tracking.get_experiment_by_name(b.str("experiment_name", required=True)))}


def search(rt: Runtime, b: Body) -> dict[str, Any]:
    found, token = rt.tracking.search_experiments(
        view_type=ViewType.parse(b.data.get("view_type")),
        filter_string=b.str("filter"),
        max_results=b.int("max_results", default=1000),
        order_by=b.list("order_by"),
        page_token=b.str("page_token"),
    )
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in found]}
    if token:
        out["next_page_token"] = token
    return out


def delete(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.delete_experiment(b.str("experiment_id", required=True))
    return {}


def restore(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.restore_experiment(b.str("experiment_id", required=True))
    return {}


def update(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.rename_experiment(b.str("experiment_id", required=True), b.str("new_name", required=True))
    return {}


def set_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.set_experiment_tag(b.str("experiment_id", required=True), b.str("key", required=True),
                                   b.str("value", required=True))
    return {}


def delete_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    rt.tracking.delete_experiment_tag(b.str("experiment_id", required=True), b.str("key", required=True))
    return {}


routes = [
    *api_route("/experiments/create", ["POST"], create),
    *api_route("/experiments/get", ["GET"], get),
    *api_route("/experiments/get-by-name", ["GET"], get_by_name),
    *api_route("/experiments/search", ["POST", "GET"], search),
    *api_route("/experiments/delete", ["POST"], delete),
    *api_route("/experiments/restore", ["POST"], restore),
    *api_route("/experiments/update", ["POST"], update),
    *api_route("/experiments/set-experiment-tag", ["POST"], set_tag),
    *api_route("/experiments/delete-experiment-tag", ["POST"], delete_tag),
]
