"""opsloop's own registry endpoints: audited promotions, validation reports and lineage.

    POST /api/opsloop/v1/models/{name}/promote                         {"alias", "version", "actor", "reason",
                                                                        "require_validation"} → {"promotion"}
    GET  /api/opsloop/v1/models/{name}/promotions[?alias=…]           → {"promotions": [oldest first]}
    DELETE /api/opsloop/v1/models/{name}/aliases/{alias}              {"actor", "reason"} (optional)
                                                                        → {"promotion"} (null: alias not set)
    POST /api/opsloop/v1/models/{name}/versions/{version}/validations {"champion_version", "passed", "report"}
                                                                        → {"validation"}
    GET  /api/opsloop/v1/models/{name}/versions/{version}/validations → {"validations": [newest first]}
    GET  /api/opsloop/v1/models/{name}/versions/{version}/lineage     → {"model_version", "run", "logged_model",
                                                                          "datasets", "metrics"}

A refused promotion is a 400 ``INVALID_STATE`` (no or stale validation) or a 409 ``VALIDATION_FAILED``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.errors import InvalidInputError
from opsloop.mlops.registry.entities import Lineage, Promotion, Validation
from opsloop.mlops.registry.identifiers import parse_version
from opsloop.runtime import Runtime
from opsloop.server.mlflow._json import logged_model_json, metric_json, run_json
from opsloop.server.mlflow.registry import caller_of, model_version_json
from opsloop.server.wire import Body, json_response, read_body, to_dict
from opsloop.settings import Settings

__all__ = ["lineage_json", "promotion_json", "register", "router", "validation_json"]

router = APIRouter(prefix="/api/opsloop/v1/models", tags=["registry"])


def promotion_json(p: Promotion) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "alias": p.alias,
            "from_version": None if p.from_version is None else str(p.from_version),
            "to_version": None if p.to_version is None else str(p.to_version),
            "actor": p.actor, "reason": p.reason, "validation_id": p.validation_id, "time": p.time}


def validation_json(v: Validation) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, "version": str(v.version),
            "champion_version": None if v.champion_version is None else str(v.champion_version),
            "passed": v.passed, "report": v.report, "time": v.time}


def lineage_json(lin: Lineage) -> dict[str, Any]:
    return {
        "model_version": model_version_json(lin.model_version),
        "run": run_json(lin.run) if lin.run else None,
        "logged_model": logged_model_json(lin.logged_model) if lin.logged_model else None,
        "datasets": [{"name": d.dataset.name, "digest": d.dataset.digest, "source_type": d.dataset.source_type,
                      "source": d.dataset.source, "context": d.tags.get("mlflow.data.context", ""), "tags": d.tags}
                     for d in lin.datasets],
        "metrics": [metric_json(m) for m in lin.metrics],
    }


async def _body(request: Request) -> tuple[Runtime, Body]:
    runtime: Runtime = request.app.state.runtime
    return runtime, await read_body(request, runtime.settings.server.max_body_bytes)


def _bool(b: Body, field: str) -> bool:
    value = b.data.get(field, False)
    if not isinstance(value, bool):
        raise InvalidInputError(f"Invalid value {value!r} for parameter '{field}': expected true or false",
                                field=field)
    return value


@router.post("/{name}/promote")
async def promote(name: str, request: Request) -> Response:
    """Move ``@alias`` to ``version``, audited; refused without a passed validation when one is required."""
    rt, b = await _body(request)
    caller = caller_of(request)
    version = b.data.get("version")
    if version is None:
        raise InvalidInputError("Missing value for required parameter 'version'.", field="version")
    result = await run_in_threadpool(
        rt.registry.promote, name, b.str("alias", required=True), parse_version(version),
        actor=b.str("actor") or caller.actor, reason=b.str("reason") or caller.reason,
        require_validation=_bool(b, "require_validation"))
    return json_response({"promotion": promotion_json(result)})


@router.delete("/{name}/aliases/{alias}")
async def delete_alias(name: str, alias: str, request: Request) -> Response:
    """Remove ``@alias``, audited as a promotion to no version; an alias that is not set is left as it is
    (``"promotion": null``), as MLflow's alias delete does, so a retried delete succeeds."""
    rt, b = await _body(request)
    caller = caller_of(request)
    result = await run_in_threadpool(rt.registry.delete_registered_model_alias, name, alias,
                                     actor=b.str("actor") or caller.actor, reason=b.str("reason") or caller.reason)
    return json_response({"promotion": None if result is None else promotion_json(result)})


@router.get("/{name}/promotions")
async def promotions(name: str, request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    found = await run_in_threadpool(rt.registry.promotion_history, name, request.query_params.get("alias"))
    return json_response({"promotions": [promotion_json(p) for p in found]})


@router.post("/{name}/versions/{version}/validations")
async def record_validation(name: str, version: str, request: Request) -> Response:
    """Store a validation report; ``passed`` is required, ``report`` is any JSON object."""
    rt, b = await _body(request)
    if not isinstance(b.data.get("passed"), bool):
        raise InvalidInputError("Missing value for required parameter 'passed' (true or false).", field="passed")
    champion = b.data.get("champion_version")
    report = to_dict(b.data.get("report", {}), "report")
    registry = rt.registry
    new_id = await run_in_threadpool(
        registry.record_validation, name, parse_version(version),
        None if champion is None else parse_version(champion, "champion_version"), b.data["passed"], report)
    return json_response({"validation": validation_json(await run_in_threadpool(registry.get_validation, new_id))})


@router.get("/{name}/versions/{version}/validations")
async def validations(name: str, version: str, request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    found = await run_in_threadpool(rt.registry.list_validations, name, parse_version(version))
    return json_response({"validations": [validation_json(v) for v in found]})


@router.get("/{name}/versions/{version}/lineage")
async def lineage(name: str, version: str, request: Request) -> Response:
    """The version's run, the run's datasets and metrics, and its logged model."""
    rt: Runtime = request.app.state.runtime
    found = await run_in_threadpool(rt.registry.lineage, name, parse_version(version))
    return json_response(lineage_json(found))


def register(app: FastAPI, _settings: Settings) -> None:
    app.include_router(router)
