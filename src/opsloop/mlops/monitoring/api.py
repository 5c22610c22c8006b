"""HTTP API of production monitoring (Starlette): labels in; drift, performance and signals out.

One model (mounted in the scoring server, ``model`` given)::

    POST /labels                    ground truth for served request ids
    GET  /monitoring/signals        ?kind=model_drift&since=…&limit=…
    GET  /monitoring/drift          latest drift reports;  POST: compute now (and emit signals)
    GET  /monitoring/performance    live metrics;          POST: compute and emit signals
    GET  /monitoring/comparison     champion vs challenger on shadowed rows

Every model (``model=None``, for the opsloop server): the same under ``/models/{model}/…`` with
``/signals`` for all models. Signals are ``Signal.to_dict()`` documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opsloop.errors import InvalidInputError, NotFoundError, OpsloopError
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.mlops.monitoring.store import MonitoringStore

__all__ = ["create_monitoring_app"]


def _error(exc: OpsloopError) -> JSONResponse:
    status, code = ((404, "RESOURCE_DOES_NOT_EXIST") if isinstance(exc, NotFoundError) else
                    (400, "INVALID_PARAMETER_VALUE") if isinstance(exc, InvalidInputError) else
                    (500, "INTERNAL_ERROR"))
    return JSONResponse({"error_code": code, "message": exc.message}, status_code=status)


def _handler(fn: Callable[..., Any], monitor_for: Callable[[Request], ModelMonitor | None]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            body = None
            if request.method == "POST":
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError as exc:
                    raise InvalidInputError(f"body is not valid JSON: {exc}", field="body") from exc
            return JSONResponse(fn(monitor_for(request), request, body))
        except OpsloopError as exc:
            return _error(exc)

    return endpoint


def _labels(m: ModelMonitor, _r: Request, body: Any) -> dict[str, Any]:
    return m.post_labels(body)


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be an integer", field=name) from exc


def _signals(m: ModelMonitor | None, r: Request, _b: Any) -> dict[str, Any]:
    store = m.store if m is not None else r.app.state.store
    since = r.query_params.get("since")
    found = store.list_signals(model=m.model if m is not None else r.query_params.get("model"),
                               kind=r.query_params.get("kind"), since=float(since) if since else None,
                               limit=_int(r, "limit", 100))
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


def create_monitoring_app(store: MonitoringStore, model: str | None = None,
                          monitor_factory: Callable[[str], ModelMonitor] | None = None) -> Starlette:
    """The monitoring API for one model (``model``) or for every model in ``store``.

    ``monitor_factory`` builds the ``ModelMonitor`` of a model name (default thresholds otherwise).
    """
    factory = monitor_factory or (lambda name: ModelMonitor(store, name))
    single = factory(model) if model is not None else None

    def monitor_for(request: Request) -> ModelMonitor:
        return single if single is not None else factory(request.path_params["model"])

    prefix = "/monitoring" if model is not None else "/models/{model}"
    labels_path = "/labels" if model is not None else "/models/{model}/labels"
    routes = [
        Route(labels_path, _handler(_labels, monitor_for), methods=["POST"]),
        Route(f"{prefix}/drift", _handler(_drift_get, monitor_for), methods=["GET"]),
        Route(f"{prefix}/drift", _handler(_drift_post, monitor_for), methods=["POST"]),
        Route(f"{prefix}/performance", _handler(_perf(False), monitor_for), methods=["GET"]),
        Route(f"{prefix}/performance", _handler(_perf(True), monitor_for), methods=["POST"]),
        Route(f"{prefix}/comparison", _handler(_comparison, monitor_for), methods=["GET"]),
    ]
    if model is not None:
        routes.append(Route("/monitoring/signals", _handler(_signals, monitor_for), methods=["GET"]))
    else:
        routes.append(Route("/signals", _handler(_signals, lambda _r: None), methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.store = store
    return app
