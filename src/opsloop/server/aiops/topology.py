"""Topology API: the declared service dependency graph (replace or add edges), the edges traced in
OTLP spans (``POST /v1/traces``) and what was learned from alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.aiops.correlation.topology import parse_topology, self_edges
from opsloop.server.aiops._common import actor_of, pipeline
from opsloop.server.wire import json_response, read_body

__all__ = ["router"]

router = APIRouter(prefix="/api/opsloop/v1/topology", tags=["topology"])

_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": '{"services": {"checkout": ["payments"]}} and/or '
                                     '{"edges": [{"source": "checkout", "target": "payments"}]}'}}}}}


def _graph(p: Any) -> dict[str, Any]:
    """The topology document: ``declared``, ``learned`` and ``traced`` (calls seen in spans)."""
    return {**p.engine.topology.to_dict(), "traced": p.traced_edges()}


@router.get("", summary="Declared, traced and learned dependencies")
async def get_topology(request: Request) -> Response:
    return json_response(_graph(pipeline(request)))


async def _set(request: Request, replace: bool) -> Response:
    p = pipeline(request)
    body = await read_body(request, 16 << 20)
    edges = parse_topology(body.data)
    await run_in_threadpool(p.set_topology, edges, actor_of(request, body.data.get("actor")), replace)
    ignored = [{"source": s, "target": s, "reason": "a service depending on itself is left out"}
               for s in self_edges(body.data)]
    return json_response(_graph(p) | ({"ignored": ignored} if ignored else {}))


@router.put("", summary="Replace the declared topology", openapi_extra=_BODY)
async def put_topology(request: Request) -> Response:
    return await _set(request, True)


@router.post("", summary="Add declared edges", openapi_extra=_BODY)
async def add_topology(request: Request) -> Response:
    return await _set(request, False)


