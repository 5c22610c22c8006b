"""The opsloop HTTP application: MLflow's REST API, opsloop's own API, and the web UI."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from opsloop import __version__
from opsloop.runtime import Runtime, build_runtime
from opsloop.server.errors import install_error_handlers
from opsloop.server.mlflow import mlflow_routes
from opsloop.server.wire import json_response
from opsloop.settings import Settings, load_settings

__all__ = ["create_app"]

# MLflow clients check the server's version to choose API paths; we speak MLflow 3.x's API.
MLFLOW_COMPAT_VERSION = "3.17.2"


async def _health(_request: Request) -> Response:
    return PlainTextResponse("OK")


async def _version(_request: Request) -> Response:
    """The MLflow version whose API this server speaks, as MLflow's server answers ``GET /version`` (Flask's
    default type, text/html); tools probe it to tell which MLflow they talk to."""
    return Response(MLFLOW_COMPAT_VERSION, media_type="text/html")


async def _server_info(request: Request) -> Response:
    return json_response({
        "opsloop_version": __version__, "mlflow_api_version": MLFLOW_COMPAT_VERSION,
        "store": request.app.state.runtime.db.engine.dialect.name, "started": request.app.state.started,
    })


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime (stores) opens with the app and closes with it."""
    settings = settings or (runtime.settings if runtime else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        app.state.runtime = runtime or build_runtime(settings)
        app.state.started = time.time()
        try:
            yield
        finally:
            if runtime is None:
                app.state.runtime.close()

    app = FastAPI(
        title="opsloop", version=__version__, lifespan=lifespan,
        description="opsloop's REST API. MLflow's tracking, registry and artifact API is served under "
                    "/api/2.0/mlflow and /api/2.0/mlflow-artifacts with MLflow's own semantics.",
    )
    install_error_handlers(app)
    app.router.routes.extend([
        Route("/health", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        Route("/api/opsloop/v1/server-info", _server_info, methods=["GET"]),
        *mlflow_routes(),
    ])
    _mount_optional(app, settings)
    return app


def _mount_optional(app: FastAPI, settings: Settings) -> None:
    """Attach the parts that live in their own packages (opsloop API routers, UI) when present."""
    from opsloop.server import extensions

    extensions.mount_all(app, settings)
