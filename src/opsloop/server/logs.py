"""Log templates over HTTP: what the miner learned per service, with counts over time.

    GET /api/opsloop/v1/logs/services                     services with their template and line counts
    GET /api/opsloop/v1/logs/templates?service=&q=&since=&limit=&offset=   templates, most frequent first
    GET /api/opsloop/v1/logs/templates/{id}               one template (merged ids resolve to the survivor)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from opsloop.server.params import RowId
from opsloop.server.wire import json_response
from opsloop.settings import Settings

__all__ = ["register", "template_json"]

router = APIRouter(prefix="/api/opsloop/v1/logs", tags=["logs"])


def template_json(t: Any, since: float | None = None) -> dict[str, Any]:
    return {
        "id": t.id, "service": t.service, "template": t.text, "version": t.version, "count": t.count,
        "first_seen": t.first_seen, "last_seen": t.last_seen, "examples": list(t.examples),
        "parameter_examples": t.parameter_examples(), "levels": dict(t.levels),
        "versions": [{"version": v.version, "template": v.text, "time": v.time} for v in t.versions],
        "series": [[k, v] for k, v in t.series(since)], "merged_into": t.merged_into,
    }


@router.get("/services")
async def services(request: Request) -> Response:
    rt = request.app.state.runtime
    return json_response({"services": await run_in_threadpool(rt.log_templates.service_summary)})


@router.get("/templates")
async def templates(request: Request, service: str | None = None, q: str | None = None,
                    since: float | None = Query(None, allow_inf_nan=False),
                    limit: int = Query(200, ge=1, le=5000),
                    offset: int = Query(0, ge=0, le=2**31 - 1)) -> Response:
    rt = request.app.state.runtime
    found, total = await run_in_threadpool(rt.log_templates.search, service, q, limit, offset)
    return json_response({"templates": [template_json(t, since) for t in found], "total": total})


@router.get("/templates/{template_id}")
async def template(request: Request, template_id: RowId) -> Response:
    rt = request.app.state.runtime
    found = await run_in_threadpool(rt.log_templates.get, template_id)
    while found.merged_into is not None:
        found = await run_in_threadpool(rt.log_templates.get, found.merged_into)
    return json_response(template_json(found))


def register(app: FastAPI, settings: Settings) -> None:
    app.include_router(router)
