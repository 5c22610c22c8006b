"""MLflow's ModelRegistryService endpoints (and the UI's ``model-versions/get-artifact``).

Alias moves made here are audited promotions: the actor is the ``X-Opsloop-Actor`` header, else the
HTTP Basic user (``MLFLOW_TRACKING_USERNAME``), else ``anonymous``; the reason is the
``X-Opsloop-Reason`` header, else the one-shot ``opsloop.promotion.reason`` model tag.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.registry.entities import ModelVersion, RegisteredModel
from opsloop.mlops.registry.identifiers import parse_version
from opsloop.mlops.registry.promotion import ACTOR_HEADER, REASON_HEADER
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import api_route
from opsloop.server.mlflow._json import kv_list
from opsloop.server.mlflow.artifacts import _download, artifact_key
from opsloop.server.wire import Body, key_values
from opsloop.storage.artifacts import safe_path

__all__ = ["Caller", "model_version_json", "registered_model_json", "routes"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request and why, as far as the request says."""

    actor: str = ""
    reason: str = ""


def _basic_user(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def caller_of(request: Request) -> Caller:
    return Caller(actor=request.headers.get(ACTOR_HEADER) or _basic_user(request),
                  reason=request.headers.get(REASON_HEADER) or "")


RegistryHandler = Callable[[Runtime, Body, Caller], dict[str, Any]]


def _route(path: str, methods: list[str], handler: RegistryHandler) -> list[Route]:
    return api_route(path, methods, handler, context=caller_of)


# -- JSON shapes ----------------------------------------------------------------------------------------

def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": mv.name, "version": str(mv.version), "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp, "current_stage": mv.current_stage,
        "source": mv.source, "status": mv.status, "tags": kv_list(mv.tags), "aliases": list(mv.aliases),
    }
    for key in ("user_id", "description", "run_id", "run_link", "model_id", "status_message"):
        value = getattr(mv, key)
        if value is not None:
            out[key] = value
    return out


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": rm.name, "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp,
        "latest_versions": [model_version_json(mv) for mv in rm.latest_versions],
        "tags": kv_list(rm.tags), "aliases": [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()],
    }
    if rm.description is not None:
        out["description"] = rm.description
    return out


def _name(b: Body, field: str = "name") -> str:
    return b.str(field, required=True) or ""


def _version(b: Body) -> int:
    value = b.data.get("version")
    if value is None:
        raise InvalidInputError("Missing value for required parameter 'version'.", field="version")
    return parse_version(value)


def _bool(b: Body, field: str) -> bool:
    value = b.data.get(field)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInputError(f"Invalid value {value!r} for parameter '{field}': expected a boolean", field=field)


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {key: items}
    if token:
        out["next_page_token"] = token
    return out


# -- registered models -----------------------------------------------------------------------------------

def create_model(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    rm = rt.registry.create_registered_model(_name(b), dict(key_values(b.list("tags"), "tags")),
                                             b.str("description"))
    return {"registered_model": registered_model_json(rm)}


def rename_model(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    return {"registered_model": registered_model_json(rt.registry.rename_registered_model(_name(b),
                                                                                          _name(b, "new_name")))}


def update_model(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    return {"registered_model": registered_model_json(rt.registry.update_registered_model(_name(b),
                                                                                          b.str("description")))}


def delete_model(rt: Runtime, b: Body, c: Caller) -> dict[str, Any]:
    rt.registry.delete_registered_model(_name(b), actor=c.actor, reason=c.reason)
    return {}


def get_model(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    return {"registered_model": registered_model_json(rt.registry.get_registered_model(_name(b)))}


def search_models(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    found, token = rt.registry.search_registered_models(b.str("filter"), b.int("max_results"), b.list("order_by"),
                                                        b.str("page_token"))
    return _page("registered_models", [registered_model_json(m) for m in found], token)


def latest_versions(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    found = rt.registry.get_latest_versions(_name(b), b.list("stages"))
    return {"model_versions": [model_version_json(mv) for mv in found]}


def set_model_tag(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    rt.registry.set_registered_model_tag(_name(b), b.str("key", required=True), b.str("value") or "")
    return {}


def delete_model_tag(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    rt.registry.delete_registered_model_tag(_name(b), b.str("key", required=True))
    return {}


def set_alias(rt: Runtime, b: Body, c: Caller) -> dict[str, Any]:
    rt.registry.set_registered_model_alias(_name(b), b.str("alias", required=True), _version(b),
                                           actor=c.actor, reason=c.reason)
    return {}


def delete_alias(rt: Runtime, b: Body, c: Caller) -> dict[str, Any]:
    rt.registry.delete_registered_model_alias(_name(b), b.str("alias", required=True), actor=c.actor,
                                              reason=c.reason)
    return {}


def get_by_alias(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    """An alias that is not set is a 400 INVALID_PARAMETER_VALUE on the wire, as MLflow's server answers it
    (an unknown model stays a 404); the store and opsloop's own API keep calling it not found."""
    name, alias = _name(b), b.str("alias", required=True)
    try:
        mv = rt.registry.get_model_version_by_alias(name, alias)
    except NotFoundError as exc:
        if exc.field != "alias":
            raise
        raise InvalidInputError(f"Registered model alias {alias} not found.", field="alias") from exc
    return {"model_version": model_version_json(mv)}


# -- model versions --------------------------------------------------------------------------------------

def create_version(rt: Runtime, b: Body, c: Caller) -> dict[str, Any]:
    mv = rt.registry.create_model_version(
        _name(b), b.str("source", required=True) or "", run_id=b.str("run_id") or None,
        tags=dict(key_values(b.list("tags"), "tags")), run_link=b.str("run_link") or None,
        description=b.str("description"), model_id=b.str("model_id") or None, user_id=c.actor or None)
    return {"model_version": model_version_json(mv)}


def update_version(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    mv = rt.registry.update_model_version(_name(b), _version(b), b.str("description"))
    return {"model_version": model_version_json(mv)}


def transition_stage(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    mv = rt.registry.transition_model_version_stage(_name(b), _version(b), b.str("stage", required=True) or "",
                                                    _bool(b, "archive_existing_versions"))
    return {"model_version": model_version_json(mv)}


def delete_version(rt: Runtime, b: Body, c: Caller) -> dict[str, Any]:
    rt.registry.delete_model_version(_name(b), _version(b), actor=c.actor, reason=c.reason)
    return {}


def get_version(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    return {"model_version": model_version_json(rt.registry.get_model_version(_name(b), _version(b)))}


def search_versions(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    found, token = rt.registry.search_model_versions(b.str("filter"), b.int("max_results"), b.list("order_by"),
                                                     b.str("page_token"))
    return _page("model_versions", [model_version_json(mv) for mv in found], token)


def download_uri(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    return {"artifact_uri": rt.registry.get_model_version_download_uri(_name(b), _version(b))}


def set_version_tag(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    rt.registry.set_model_version_tag(_name(b), _version(b), b.str("key", required=True), b.str("value") or "")
    return {}


def delete_version_tag(rt: Runtime, b: Body, _c: Caller) -> dict[str, Any]:
    rt.registry.delete_model_version_tag(_name(b), _version(b), b.str("key", required=True))
    return {}


async def get_artifact(request: Request) -> Response:
    """``/model-versions/get-artifact?name=…&version=…&path=…`` as MLflow's UI asks for a version's files."""
    rt: Runtime = request.app.state.runtime
    q = request.query_params
    path = safe_path(q.get("path"), allow_empty=False)
    b = Body({"name": q.get("name"), "version": q.get("version")})
    uri = await run_in_threadpool(rt.registry.get_model_version_download_uri, _name(b), _version(b))
    return await _download(rt, artifact_key(uri, path), path)


routes = [
    *_route("/registered-models/create", ["POST"], create_model),
    *_route("/registered-models/rename", ["POST"], rename_model),
    *_route("/registered-models/update", ["PATCH"], update_model),
    *_route("/registered-models/delete", ["DELETE"], delete_model),
    *_route("/registered-models/get", ["GET"], get_model),
    *_route("/registered-models/search", ["GET", "POST"], search_models),
    *_route("/registered-models/get-latest-versions", ["POST", "GET"], latest_versions),
    *_route("/registered-models/set-tag", ["POST"], set_model_tag),
    *_route("/registered-models/delete-tag", ["DELETE"], delete_model_tag),
    *_route("/registered-models/alias", ["POST"], set_alias),
    *_route("/registered-models/alias", ["DELETE"], delete_alias),
    *_route("/registered-models/alias", ["GET"], get_by_alias),
    *_route("/model-versions/create", ["POST"], create_version),
    *_route("/model-versions/update", ["PATCH"], update_version),
    *_route("/model-versions/transition-stage", ["POST"], transition_stage),
    *_route("/model-versions/delete", ["DELETE"], delete_version),
    *_route("/model-versions/get", ["GET"], get_version),
    *_route("/model-versions/search", ["GET", "POST"], search_versions),
    *_route("/model-versions/get-download-uri", ["GET"], download_uri),
    *_route("/model-versions/set-tag", ["POST"], set_version_tag),
    *_route("/model-versions/delete-tag", ["DELETE"], delete_version_tag),
    Route("/model-versions/get-artifact", get_artifact, methods=["GET"]),
    Route("/ajax-api/2.0/mlflow/model-versions/get-artifact", get_artifact, methods=["GET"]),
]
