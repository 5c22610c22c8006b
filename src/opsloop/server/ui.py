"""The web UI: ``index.html`` at ``/`` and the hand-written ES modules under ``/static``.

The UI is plain HTML, CSS and JavaScript modules shipped inside the package (no build step); routing
is by URL hash, so the server only answers ``/`` and ``/static/...``. ``settings.server.ui = False``
leaves both out.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from opsloop.settings import Settings

__all__ = ["STATIC_DIR", "register"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"


class _RevalidatedStatic(StaticFiles):
    """Static files that browsers revalidate on every load (ETag), so an upgrade never mixes versions."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


async def _index(_request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def register(app: FastAPI, settings: Settings) -> None:
    """Serve the UI unless ``settings.server.ui`` is off."""
    if not settings.server.ui:
        return
    app.router.routes.extend([
        Route("/", _index, methods=["GET"]),
        Mount("/static", app=_RevalidatedStatic(directory=STATIC_DIR), name="static"),
    ])
