"""Signal API: the stored, normalised signals (alerts, log records, events, metric series, anomalies)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.core.signals import SignalKind
from opsloop.server.aiops._common import choices, pipeline
from opsloop.server.params import Offset, QueryId
from opsloop.server.wire import json_response
from opsloop.storage.sql.signals import METRIC_KIND

__all__ = ["router"]

router = APIRouter(prefix="/api/opsloop/v1", tags=["signals"])


@router.get("/signals", summary="List signals, newest first")
async def list_signals(
    request: Request,
    service: str | None = None,
    kind: str | None = Query(None, description="alert, log, event, metric, metric_anomaly, log_anomaly… "
                                               "(comma-separated for several)"),
    since: float | None = Query(None, description="epoch seconds"),
    until: float | None = Query(None, description="epoch seconds"),
    status: str | None = Query(None, description="firing or resolved"),
    incident_id: QueryId = None,
    fingerprint: str | None = None,
    limit: int = Query(100, ge=1, le=5000),
    offset: Offset = 0,
) -> Response:
    kind = choices(kind, [*(k.value for k in SignalKind), METRIC_KIND], "kind")
    status = choices(status, ("firing", "resolved"), "status")
    rows = await run_in_threadpool(pipeline(request).stores.signals.list, service=service, kind=kind, since=since,
                                   until=until, status=status, incident_id=incident_id, fingerprint=fingerprint,
                                   limit=limit, offset=offset)
    return json_response({"signals": rows})


@router.get("/audit", summary="Audit trail across incidents, silences, topology and configuration")
async def audit(request: Request, entity: str | None = None, entity_id: str | None = None,
                limit: int = Query(200, ge=1, le=1000), offset: Offset = 0) -> Response:
    rows = await run_in_threadpool(pipeline(request).stores.incidents.audit_trail, entity, entity_id, limit, offset)
    return json_response({"audit": rows})
