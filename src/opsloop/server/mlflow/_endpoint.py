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


def _endpoint(handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        body = await read_body(request, runtime.settings.server.max_body_bytes)
        if request.path_params:
            body.data.update(request.path_params)
        result = await run_in_threadpool(handler, runtime, body)
        return json_response(result)

    endpoint.__name__ = handler.__name__
    return endpoint


def api_route(path: str, methods: list[str], handler: Handler) -> list[Route]:
    """The same handler under every prefix MLflow clients and its UI use."""
    endpoint = _endpoint(handler)
    return [Route(prefix + path, endpoint, methods=methods) for prefix in PREFIXES]
