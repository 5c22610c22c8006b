"""Turn ``handler(runtime, body) -> dict`` functions into Starlette endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opsloop.runtime import Runtime
from opsloop.server.wire import Body, json_response, read_body

__all__ = ["Handler", "api_route"]

Handler = Callable[[Runtime, Body], dict[str, Any]]

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/3.0/mlflow")


def _endpoint(handler: Callable[..., dict[str, Any]],
              context: Callable[[Request], Any] | None) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        body = await read_body(request, runtime.settings.server.max_body_bytes)
        if request.method != "GET":  # some MLflow clients send DELETE parameters in the query string
            for key, value in request.query_params.items():
                body.data.setdefault(key, value)
        if request.path_params:
            body.data.update(request.path_params)
        args = (runtime, body) if context is None else (runtime, body, context(request))
        result = await run_in_threadpool(handler, *args)
        return json_response(result)

    endpoint.__name__ = handler.__name__
    return endpoint


def api_route(path: str, methods: list[str], handler: Callable[..., dict[str, Any]],
              context: Callable[[Request], Any] | None = None) -> list[Route]:
    """The same handler under every prefix MLflow clients and its UI use.

    ``handler(runtime, body)`` gets the parsed request; with ``context``, it gets
    ``handler(runtime, body, context(request))`` too (e.g. who is calling).
    """
    endpoint = _endpoint(handler, context)
    return [Route(prefix + path, endpoint, methods=methods) for prefix in PREFIXES]
