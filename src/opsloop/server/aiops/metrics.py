"""Metric API: the series opsloop has ingested and their samples, for charts and incident evidence.

    GET /api/opsloop/v1/metrics/series?name=&service=&limit=&offset=  → {"series": [{"series", "name", "service",
                                                                         "labels", "last_time", "last_value",
                                                                         "samples_seen", "source"}]}
    GET /api/opsloop/v1/metrics/series/{fingerprint}                   → one of those rows; 404 RESOURCE_DOES_NOT_EXIST
                                                                         (field "fingerprint") when unknown
    GET /api/opsloop/v1/metrics/points?series=&start=&end=&max_points=  → {"series", "count", "bucket_s", "points"}
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.server.aiops._common import pipeline
from opsloop.server.params import Offset
from opsloop.server.wire import json_response
from opsloop.storage.sql.metric_points import MAX_POINTS

__all__ = ["router"]

router = APIRouter(prefix="/api/opsloop/v1/metrics", tags=["metrics"])


@router.get("/series", summary="List ingested metric series (name, service, labels, latest sample)")
async def list_series(
    request: Request,
    name: str | None = Query(None, description="substring of the metric name"),
    service: str | None = None,
    limit: int = Query(200, ge=1, le=5000),
    offset: Offset = 0,
) -> Response:
    rows = await run_in_threadpool(pipeline(request).stores.metric_points.series, name=name, service=service,
                                   limit=limit, offset=offset)
    return json_response({"series": rows})


@router.get("/series/{fingerprint}", summary="One series by its fingerprint (as listed by /series); 404 if unknown")
async def one_series(request: Request, fingerprint: str = Path(..., min_length=1, max_length=32)) -> Response:
    row = await run_in_threadpool(pipeline(request).stores.metric_points.series_by_fingerprint, fingerprint)
    return json_response(row)


@router.get("/points", summary="Samples of one series; past max_points, time buckets with mean/min/max")
async def points(
    request: Request,
    series: str = Query(..., min_length=1, max_length=32, description="the series' fingerprint"),
    start: float | None = Query(None, description="epoch seconds"),
    end: float | None = Query(None, description="epoch seconds"),
    max_points: int = Query(1000, ge=1, le=MAX_POINTS),
) -> Response:
    out = await run_in_threadpool(pipeline(request).stores.metric_points.points, series, start=start, end=end,
                                  max_points=max_points)
    return json_response(out)
