"""Incident API: list, show (timeline, signals, similar past incidents, grouping reasons), lifecycle
actions, comments, assignment, severity, merge and split."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.aiops.incidents.lifecycle import STATES
from opsloop.core.signals import SEVERITY_ALIASES
from opsloop.server.aiops._common import actor_of, choices, pipeline
from opsloop.server.params import BodyId, Offset, RowId
from opsloop.server.wire import json_response

__all__ = ["router"]

router = APIRouter(prefix="/api/opsloop/v1/incidents", tags=["incidents"])

_LIST_FIELDS = ("id", "title", "state", "severity", "service", "services", "labels", "assignee", "signal_count",
                "created_at", "updated_at", "acknowledged_at", "resolved_at", "first_signal_at", "last_signal_at")


class ActionBody(BaseModel):
    actor: str | None = Field(None, description="Who does it (default: X-Opsloop-User header, else anonymous).")
    text: str = Field("", max_length=10000, description="Comment; for resolve, the resolution note.")


class AssignBody(BaseModel):
    assignee: str = Field(..., max_length=200)
    actor: str | None = None


class SeverityBody(BaseModel):
    severity: str = Field(..., max_length=50, description="info, warning, error or critical (or a synonym: crit, p1…)")
    actor: str | None = None


class MergeBody(BaseModel):
    target_id: BodyId
    source_ids: list[BodyId] = Field(..., min_length=1, max_length=1000)
    actor: str | None = None


class SplitBody(BaseModel):
    signal_ids: list[BodyId] = Field(..., min_length=1, max_length=10000)
    actor: str | None = None


@router.get("", summary="List incidents, newest activity first")
async def list_incidents(
    request: Request,
    state: str | None = Query(None, description="triggered, acknowledged, resolved (comma-separated for several)"),
    severity: str | None = Query(None, description="info, warning, error, critical (comma-separated)"),
    service: str | None = Query(None, description="incidents involving this service"),
    q: str | None = Query(None, description="text in the title, labels or resolution"),
    assignee: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Response:
    state = choices(state, STATES, "state")
    severity = choices(severity, SEVERITY_ALIASES, "severity")
    rows, total = await run_in_threadpool(pipeline(request).stores.incidents.list, state=state, severity=severity,
                                          service=service, q=q, assignee=assignee, limit=limit, offset=offset)
    return json_response({"incidents": [{k: r[k] for k in _LIST_FIELDS} | {"flags": r["flags"]} for r in rows],
                          "total": total})


@router.get("/{incident_id}", summary="One incident with its timeline, signals, probable root causes, similar incidents and reasons")
async def get_incident(request: Request, incident_id: RowId, signal_limit: int = Query(1000, ge=1, le=10000)
                       ) -> Response:
    return json_response(await run_in_threadpool(pipeline(request).incident_detail, incident_id,
                                                 signal_limit=signal_limit))


async def _act(request: Request, incident_id: int, action: str, body: ActionBody | None) -> Response:
    body = body or ActionBody()
    out = await run_in_threadpool(pipeline(request).act, incident_id, action, actor_of(request, body.actor),
                                  body.text)
    return json_response(out)


async def _operate(request: Request, operation: str, *args: Any) -> Response:
    """Run ``Operations.<operation>(*args)`` under the pipeline's lock; answer the incident it returns."""
    p = pipeline(request)

    def run() -> dict[str, Any]:
        with p.lock:
            result: dict[str, Any] = getattr(p.ops, operation)(*args)
            return result

    return json_response(await run_in_threadpool(run))


@router.post("/{incident_id}/ack", summary="Acknowledge (triggered → acknowledged)")
async def ack(request: Request, incident_id: RowId, body: ActionBody | None = None) -> Response:
    return await _act(request, incident_id, "ack", body)


@router.post("/{incident_id}/unack", summary="Take back an acknowledgement (acknowledged → triggered)")
async def unack(request: Request, incident_id: RowId, body: ActionBody | None = None) -> Response:
    return await _act(request, incident_id, "unack", body)


@router.post("/{incident_id}/resolve", summary="Resolve; `text` is kept as the resolution note")
async def resolve(request: Request, incident_id: RowId, body: ActionBody | None = None) -> Response:
    return await _act(request, incident_id, "resolve", body)


@router.post("/{incident_id}/reopen", summary="Reopen a resolved incident (resolved → triggered)")
async def reopen(request: Request, incident_id: RowId, body: ActionBody | None = None) -> Response:
    return await _act(request, incident_id, "reopen", body)


@router.post("/{incident_id}/comment", summary="Add a comment to the timeline")
async def comment(request: Request, incident_id: RowId, body: ActionBody) -> Response:
    return await _operate(request, "comment", incident_id, actor_of(request, body.actor), body.text)


@router.post("/{incident_id}/assign", summary="Assign (empty assignee unassigns)")
async def assign(request: Request, incident_id: RowId, body: AssignBody) -> Response:
    return await _operate(request, "assign", incident_id, body.assignee, actor_of(request, body.actor))


@router.post("/{incident_id}/severity", summary="Set the severity (raised: the targets it now routes to are told)")
async def severity(request: Request, incident_id: RowId, body: SeverityBody) -> Response:
    return await _operate(request, "set_severity", incident_id, body.severity, actor_of(request, body.actor))


@router.post("/merge", summary="Merge source incidents into the target")
async def merge(request: Request, body: MergeBody) -> Response:
    return await _operate(request, "merge", body.target_id, body.source_ids, actor_of(request, body.actor))


@router.post("/{incident_id}/split", summary="Move signals out into a new incident (returns the new one)")
async def split(request: Request, incident_id: RowId, body: SplitBody) -> Response:
    return await _operate(request, "split", incident_id, body.signal_ids, actor_of(request, body.actor))


@router.get("/{incident_id}/audit", summary="Audit trail of one incident")
async def audit(request: Request, incident_id: RowId, limit: int = Query(200, ge=1, le=1000),
                offset: Offset = 0) -> Response:
    store = pipeline(request).stores.incidents

    def trail() -> list[dict[str, Any]]:
        store.get(incident_id)  # no such incident: a 404, not an empty trail
        return store.audit_trail("incident", incident_id, limit, offset)

    rows = await run_in_threadpool(trail)
    return json_response({"audit": rows})
