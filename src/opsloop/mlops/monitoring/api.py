"""HTTP API of production monitoring (Starlette): labels in; drift, performance and signals out.

One model (mounted in the scoring server, ``model`` given)::

    POST /labels                    ground truth for served request ids
    GET  /monitoring/signals        ?kind=model_drift&since=…&limit=…
    GET  /monitoring/drift          latest drift reports;  POST: compute now (and emit signals)
    GET  /monitoring/performance    live metrics;          POST: compute and emit signals
    GET  /monitoring/comparison     champion vs challenger on shadowed rows
    GET  /monitoring/status         samples kept, the reference's summary, the newest drift report's time
    GET  /monitoring/reference      the reference's summary;  POST (when ``set_reference`` is given): set it

Every model (``model=None``, for the opsloop server): the same under ``/models/{model}/…`` (status at
``/models/{model}``), ``GET /models`` for the models with a reference, ``/signals`` for all models, and
(when ``health`` is given) ``GET /health`` (every served deployment's error rate and p99 latency over its
window) and ``POST /health`` (the same, judged now: firing and resolved ``model_health`` signals).
Signals are ``Signal.to_dict()`` documents. Handlers run in a worker thread (they read the store).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opsloop.errors import InvalidInputError, NotFoundError, OpsloopError
from opsloop.mlops.monitoring.health import HealthPolicy
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.mlops.monitoring.reference import reference_summary
from opsloop.mlops.monitoring.store import MonitoringStore

__all__ = ["create_monitoring_app"]

# (status, body) of a domain error; the opsloop server passes its own mapping (server/errors.py)
ErrorBody = Callable[[OpsloopError], tuple[int, dict[str, Any]]]


def _error_body(exc: OpsloopError) -> tuple[int, dict[str, Any]]:
    status, code = ((404, "RESOURCE_DOES_NOT_EXIST") if isinstance(exc, NotFoundError) else
                    (400, "INVALID_PARAMETER_VALUE") if isinstance(exc, InvalidInputError) else
                    (500, "INTERNAL_ERROR"))
    body: dict[str, Any] = {"error_code": code, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    return status, body


def _handler(fn: Callable[..., Any], monitor_for: Callable[[Request], ModelMonitor | None],
             error_body: ErrorBody) -> Callable[..., Any]:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            body = None
            if request.method == "POST":
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError as exc:
                    raise InvalidInputError(f"body is not valid JSON: {exc}", field="body") from exc
            return JSONResponse(await run_in_threadpool(lambda: fn(monitor_for(request), request, body)))
        except OpsloopError as exc:
            status, doc = error_body(exc)
            return JSONResponse(doc, status_code=status)

    return endpoint


def _labels(m: ModelMonitor, _r: Request, body: Any) -> dict[str, Any]:
    return m.post_labels(body)


MAX_LIMIT = 10_000  # rows one read answers (signals and drift reports carry their evidence)


def _int(request: Request, name: str, default: int) -> int:
    """A ``limit``-like parameter: an integer from 1 to ``MAX_LIMIT``."""
    try:
        value = int(request.query_params.get(name, default))
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be an integer", field=name) from exc
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidInputError(f"{name} must be from 1 to {MAX_LIMIT}; got {value}", field=name)
    return value


def _since(request: Request) -> float | None:
    """``since``: seconds since the epoch, or ``None`` when not given."""
    raw = request.query_params.get("since")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInputError(f"since must be a time in seconds since the epoch; got {raw!r}", field="since")
    return value


def _signals(m: ModelMonitor | None, r: Request, _b: Any) -> dict[str, Any]:
    store = m.store if m is not None else r.app.state.store
    found = store.list_signals(model=m.model if m is not None else r.query_params.get("model"),
                               kind=r.query_params.get("kind"), since=_since(r), limit=_int(r, "limit", 100))
    return {"signals": [s.to_dict() for s in found]}


def _drift_get(m: ModelMonitor, r: Request, _b: Any) -> dict[str, Any]:
    return {"reports": [x.to_dict() for x in m.store.list_drift_reports(m.model, limit=_int(r, "limit", 1))]}


def _drift_post(m: ModelMonitor, _r: Request, _b: Any) -> dict[str, Any]:
    report, signals = m.check_drift()
    return {"report": report.to_dict(), "signals": [s.to_dict() for s in signals]}


def _perf(emit: bool) -> Callable[..., dict[str, Any]]:
    def run(m: ModelMonitor, _r: Request, _b: Any) -> dict[str, Any]:
        report, signals = m.check_performance(emit=emit)
        return {"report": report.to_dict(), "signals": [s.to_dict() for s in signals]}

    return run


def _comparison(m: ModelMonitor, _r: Request, _b: Any) -> dict[str, Any]:
    return m.comparison()


def _reference_get(m: ModelMonitor, r: Request, _b: Any) -> dict[str, Any]:
    profile = m.store.get_reference(m.model)
    if profile is None:
        raise NotFoundError(f"model {m.model!r} has no drift reference", field="reference")
    return reference_summary(m.model, profile, r.app.state.health_defaults)


def _status(m: ModelMonitor, r: Request, _b: Any) -> dict[str, Any]:
    profile = m.store.get_reference(m.model)
    latest = next(iter(m.store.list_drift_reports(m.model, limit=1)), None)
    summary = reference_summary(m.model, profile, r.app.state.health_defaults) if profile is not None else None
    return {"model": m.model, "samples": m.store.count_samples(m.model), "reference": summary,
            "last_drift_check": latest.time if latest is not None else None,
            "drifted": latest.drifted if latest is not None else []}


def _models(_m: Any, r: Request, _b: Any) -> dict[str, Any]:
    return {"models": r.app.state.models()}


async def _no_route(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = "ENDPOINT_NOT_FOUND" if exc.status_code == 404 else "BAD_REQUEST"
    return JSONResponse({"error_code": code, "message": f"no route {request.method} {request.url.path}"},
                        status_code=exc.status_code)


def create_monitoring_app(store: MonitoringStore, model: str | None = None,
                          monitor_factory: Callable[[str], ModelMonitor] | None = None, *,
                          set_reference: Callable[[ModelMonitor, Any], dict[str, Any]] | None = None,
                          error_body: ErrorBody | None = None,
                          health: Callable[[bool], dict[str, Any]] | None = None,
                          health_defaults: HealthPolicy | None = None,
                          models: Callable[[], list[str]] | None = None) -> Starlette:
    """The monitoring API for one model (``model``) or for every model in ``store``.

    Args:
        monitor_factory: the ``ModelMonitor`` of a model name, asked for each request (default: one with
            default thresholds); it may raise ``NotFoundError`` for a name it does not know.
        set_reference: answers ``POST …/reference`` with the monitor and the JSON body (no such route
            without it).
        error_body: ``(status, body)`` of a domain error (default: 404, 400, else 500).
        health: the served deployments' health (``True``: judge the checks now and send their signals),
            answering ``GET`` and ``POST /health`` (every model only).
        health_defaults: the health thresholds a reference does not set (shown in its ``thresholds``).
        models: the models ``GET /models`` lists (default: every model with a reference in ``store``).
    """
    factory = monitor_factory or (lambda name: ModelMonitor(store, name))
    errors = error_body or _error_body

    def monitor_for(request: Request) -> ModelMonitor:  # asked per request: a factory may flush samples first
        return factory(model if model is not None else request.path_params["model"])

    def route(path: str, fn: Callable[..., Any], method: str = "GET",
              who: Callable[[Request], ModelMonitor | None] = monitor_for) -> Route:
        return Route(path, _handler(fn, who, errors), methods=[method])

    prefix = "/monitoring" if model is not None else "/models/{model}"
    routes = [
        route("/labels" if model is not None else "/models/{model}/labels", _labels, "POST"),
        route(f"{prefix}/drift", _drift_get),
        route(f"{prefix}/drift", _drift_post, "POST"),
        route(f"{prefix}/performance", _perf(False)),
        route(f"{prefix}/performance", _perf(True), "POST"),
        route(f"{prefix}/comparison", _comparison),
        route(f"{prefix}/reference", _reference_get),
        route("/monitoring/status" if model is not None else prefix, _status),
    ]
    if set_reference is not None:
        routes.append(route(f"{prefix}/reference", lambda m, _r, body: set_reference(m, body), "POST"))
    if model is not None:
        routes.append(route("/monitoring/signals", _signals))
    else:
        routes += [route("/signals", _signals, who=lambda _r: None), route("/models", _models, who=lambda _r: None)]
        if health is not None:
            routes += [route("/health", lambda _m, _r, _b: health(False), who=lambda _r: None),
                       route("/health", lambda _m, _r, _b: health(True), "POST", who=lambda _r: None)]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _no_route})
    app.state.store = store
    app.state.models = models or store.reference_models
    app.state.health_defaults = health_defaults
    return app
