"""Ingestion endpoints: what operations tools already emit, in their own protocols.

Every endpoint decodes (off the event loop), charges the sender's rate limit by the number of items,
then stores and correlates. Invalid items are refused one by one while valid ones are kept: OTLP says
so with *partial success*, the others with a 400 naming the refused items (re-sending a batch is safe:
stored items fold as duplicates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.aiops.incidents.engine import IngestReport
from opsloop.aiops.ingestion import otlp, otlp_traces
from opsloop.aiops.ingestion.alertmanager import decode_alert_list, decode_alertmanager
from opsloop.aiops.ingestion.events import decode_events
from opsloop.aiops.ingestion.loki import decode_loki_json, decode_loki_proto
from opsloop.aiops.ingestion.normalise import Decoded, now
from opsloop.aiops.ingestion.remote_write import check_content_type, decode_remote_write
from opsloop.errors import InvalidInputError, OpsloopError, RateLimitedError
from opsloop.server.aiops._common import pipeline, raw_body, sender_of
from opsloop.server.errors import error_body
from opsloop.server.wire import json_response

__all__ = ["otlp_traces_export", "router"]

router = APIRouter(tags=["ingestion"])


def _doc(content: dict[str, str]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {ct: {"schema": {"type": "string", "description": d}}
                                                          for ct, d in content.items()}}}


async def _run(request: Request, decode: Callable[[bytes], Decoded],
               keep: Callable[[Any], Any] | None = None, *, snappy: bool = False) -> tuple[Decoded, dict[str, Any]]:
    """Decode, charge the sender, then ``keep`` the batch (by default: store and correlate it); ``snappy``:
    ``decode`` takes the snappy body of its protocol itself."""
    p = pipeline(request)
    sender = sender_of(request)
    p.limiter.check(sender)
    body = await raw_body(request, snappy_decoded_by_route=snappy)

    def work() -> tuple[Decoded, IngestReport | None]:  # one trip to a worker thread per request
        decoded = decode(body)
        p.admit(sender, max(1, decoded.items))
        return decoded, (keep or p.ingest)(decoded)

    decoded, report = await run_in_threadpool(work)
    return decoded, report.to_dict() if report is not None else {}


def _partial(decoded: Decoded, report: dict[str, Any]) -> Response:
    return json_response({"error_code": "INVALID_PARAMETER_VALUE", "message": decoded.summary(),
                          "accepted": decoded.items - len(decoded.rejected),
                          "rejected": [r.to_dict() for r in decoded.rejected[:100]], **report}, 400)


@router.post(
    "/api/opsloop/v1/ingest/alertmanager",
    summary="Alertmanager webhook receiver (payload version 4)",
    description="Point an Alertmanager `webhook_configs` receiver here. Firing alerts open or join incidents; "
                "resolved ones resolve their signals (and the incident once all are resolved). Answers 200 with "
                "what was stored, or 400 naming the refused alerts (the valid ones are kept).",
    openapi_extra=_doc({"application/json": "Alertmanager webhook payload (version 4)"}),
)
async def alertmanager(request: Request) -> Response:
    decoded, report = await _run(request, lambda b: decode_alertmanager(b, pipeline(request).limits, now()))
    if decoded.rejected:
        return _partial(decoded, report)
    return json_response({"status": "success", **report})


@router.post(
    "/api/v2/alerts",
    summary="Alertmanager's API: alerts posted by Prometheus and other rulers",
    description="Add opsloop to prometheus.yml's `alerting.alertmanagers` (`api_version: v2`): Prometheus (or "
                "Loki's and Mimir's rulers, vmalert) posts each firing alert again until it stops. An alert fires "
                "until its `endsAt` unless posted again; an `endsAt` in the past resolves it. Answers 200 with what "
                "was stored, or 400 with a JSON string naming the refused alerts, as Alertmanager answers (the "
                "valid ones are kept).",
    openapi_extra=_doc({"application/json": "a list of postable alerts (labels, annotations, startsAt, endsAt, "
                                            "generatorURL)"}),
)
async def alertmanager_api(request: Request) -> Response:
    # a refusal is a JSON string, as Alertmanager answers one (``amtool alert add`` prints it; an object
    # made it fail with "cannot unmarshal object into Go value of type string"); valid alerts are kept
    try:
        decoded, report = await _run(request, lambda b: decode_alert_list(b, pipeline(request).limits, now()))
    except InvalidInputError as exc:
        return json_response(f"{exc.field}: {exc.message}" if exc.field else exc.message, error_body(exc)[0])
    if decoded.rejected:
        return json_response(decoded.summary(), 400)
    return json_response({"status": "success", **report})


@router.post(
    "/api/opsloop/v1/events",
    summary="Generic JSON events (deploys, config changes, model drift…)",
    description="One event, a list, or `{\"events\": [...]}`; see docs/aiops.md for the fields.",
    openapi_extra=_doc({"application/json": "event object(s)"}),
)
async def events(request: Request) -> Response:
    decoded, report = await _run(request, lambda b: decode_events(b, pipeline(request).limits, now()))
    if decoded.rejected:
        return _partial(decoded, report)
    return json_response({"status": "success", "accepted": len(decoded.signals), **report})


@router.post(
    "/loki/api/v1/push",
    summary="Loki push API (JSON or snappy protobuf)",
    description="Promtail, Grafana Alloy and Loki clients can push here. 204 on success, 400 when entries "
                "were refused (valid ones are kept).",
    status_code=204,
    openapi_extra=_doc({"application/json": "PushRequest as JSON",
                        "application/x-protobuf": "snappy-compressed logproto.PushRequest"}),
)
async def loki_push(request: Request) -> Response:
    ct = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    limits = pipeline(request).limits
    proto = ct in ("application/x-protobuf", "application/protobuf")
    if proto:
        max_bytes = request.app.state.runtime.settings.server.max_body_bytes
        decode = lambda b: decode_loki_proto(b, limits, now(), max_bytes)  # noqa: E731
    elif ct in ("application/json", ""):
        decode = lambda b: decode_loki_json(b, limits, now())  # noqa: E731
    else:
        raise InvalidInputError(f"unsupported Content-Type {ct!r}", field="content-type")
    decoded, report = await _run(request, decode, snappy=proto)
    if decoded.rejected:
        return _partial(decoded, report)
    return Response(status_code=204)


@router.post(
    "/api/v1/write",
    summary="Prometheus remote_write receiver (snappy protobuf WriteRequest)",
    description="Add `remote_write: [{url: http://<opsloop>/api/v1/write}]` to prometheus.yml. Samples feed the "
                "metric detectors and the metric history (GET /api/opsloop/v1/metrics/points). 204 on success; a body that is not "
                "snappy or not a WriteRequest is a 400 (not retried by Prometheus); remote write 2.0 "
                "(`proto=io.prometheus.write.v2.Request`) a 415.",
    status_code=204,
    openapi_extra=_doc({"application/x-protobuf": "snappy-compressed prometheus.WriteRequest"}),
)
async def remote_write(request: Request) -> Response:
    try:
        check_content_type(request.headers.get("content-type", ""))
    except InvalidInputError as exc:
        return json_response(error_body(exc)[1], 415)
    limits = pipeline(request).limits
    max_bytes = request.app.state.runtime.settings.server.max_body_bytes

    def decode(body: bytes) -> Decoded:
        d = decode_remote_write(body, limits, now(), max_bytes)
        d.source = "remote_write"
        return d

    decoded, report = await _run(request, decode, snappy=True)
    if decoded.rejected:
        return _partial(decoded, report)
    return Response(status_code=204)


async def _otlp(request: Request, signal: str) -> Response:
    kind = otlp.JSON
    try:
        kind = otlp.content_kind(request.headers.get("content-type", ""))
        p = pipeline(request)
        limits = p.limits
        if signal == "traces":  # spans are not stored: they teach the topology who calls whom
            decoded, _ = await _run(request, lambda b: otlp_traces.decode_traces(b, kind), p.observe_spans)
        else:
            decode = otlp.decode_logs if signal == "logs" else otlp.decode_metrics

            def run(body: bytes) -> Decoded:
                d = decode(body, kind, limits, now())
                d.source = "otlp"
                return d

            decoded, _ = await _run(request, run)
    except OpsloopError as exc:
        status, _body = error_body(exc)
        if isinstance(exc, InvalidInputError) and exc.field == "content-type":
            status = 415
        headers = {"Retry-After": str(max(1, int(exc.retry_after)))} if isinstance(exc, RateLimitedError) else None
        grpc = {400: 3, 413: 8, 415: 3, 429: 8, 503: 14}.get(status, 13)
        return Response(otlp.error_body(grpc, exc.message, kind), status_code=status, media_type=kind,
                        headers=headers)
    return Response(otlp.success_body(signal, decoded, kind), status_code=200, media_type=kind)


@router.post(
    "/v1/logs",
    summary="OTLP/HTTP logs (JSON or protobuf)",
    description="OpenTelemetry SDKs and Collectors export logs here. Records that fail validation are reported "
                "as partial success (`rejectedLogRecords`, `errorMessage`).",
    openapi_extra=_doc({"application/json": "ExportLogsServiceRequest (OTLP/JSON)",
                        "application/x-protobuf": "ExportLogsServiceRequest"}),
)
async def otlp_logs(request: Request) -> Response:
    return await _otlp(request, "logs")


@router.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics (JSON or protobuf)",
    description="Gauge and sum points, histogram and summary counts/sums, feed the metric detectors and "
                "the metric history. Partial success reports `rejectedDataPoints`.",
    openapi_extra=_doc({"application/json": "ExportMetricsServiceRequest (OTLP/JSON)",
                        "application/x-protobuf": "ExportMetricsServiceRequest"}),
)
async def otlp_metrics(request: Request) -> Response:
    return await _otlp(request, "metrics")


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP traces (JSON or protobuf): the service dependency graph",
    description="OpenTelemetry SDKs and Collectors export spans here. Spans are not stored: a span of one service "
                "that is the parent of a span of another (or a client span naming it in `peer.service`) counts a "
                "call, and edges with enough calls join the topology (`traced` in GET /api/opsloop/v1/topology). "
                "Requests carrying `x-mlflow-experiment-id` are MLflow's: they get 501 so the MLflow client "
                "uploads its spans as the trace's artifact. Partial success reports `rejectedSpans`.",
    openapi_extra=_doc({"application/json": "ExportTraceServiceRequest (OTLP/JSON)",
                        "application/x-protobuf": "ExportTraceServiceRequest"}),
)
async def otlp_traces_export(request: Request) -> Response:
    return await _otlp(request, "traces")
