"""MLflow 3 tracing endpoints, as the mlflow 3.x client calls them.

    POST   /api/3.0/mlflow/traces                      StartTraceV3 {"trace": {"trace_info": …}} → info + artifact location
    GET    /api/3.0/mlflow/traces/{trace_id}           GetTraceInfoV3
    POST   /api/3.0/mlflow/traces/search               SearchTracesV3 {"locations", "filter", "max_results", …}
    POST   /api/3.0/mlflow/traces/batchGetInfos        BatchGetTraceInfos {"trace_ids", "experiment_ids"}
    POST   /api/2.0/mlflow/traces/delete-traces        DeleteTraces {"experiment_id", "max_timestamp_millis"|"request_ids"}
    PATCH  /api/2.0/mlflow/traces/{trace_id}/tags      SetTraceTag {"key", "value"}
    DELETE /api/2.0/mlflow/traces/{trace_id}/tags      DeleteTraceTag {"key"}
    GET    /ajax-api/2.0/mlflow/get-trace-artifact     ?request_id=…[&path=attachment]: the spans file, for UIs
    POST   /v1/traces                                  OTLP span export: with ``x-mlflow-experiment-id`` (MLflow's
                                                       exports) 501, so the client uploads spans as the
                                                       ``traces.json`` artifact (MLflow's artifact-backed mode);
                                                       any other export goes to the AIOps traces ingestion

Every path is served under each MLflow prefix (2.0 and 3.0, api and ajax-api).
"""

from __future__ import annotations

import logging
import posixpath
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking.entities import Assessment, TraceInfo
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import api_route
from opsloop.server.mlflow.artifacts import _download as download_artifact
from opsloop.server.mlflow.artifacts import artifact_key
from opsloop.server.wire import Body, json_response, to_dict
from opsloop.storage.artifacts import safe_path
from opsloop.storage.sql.traces import ARTIFACT_LOCATION_TAG, TRACE_STATES, SqlTraceStore

__all__ = ["assessment_json", "routes", "trace_info_json"]

log = logging.getLogger("opsloop.server")

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"^(-?)(\d{1,12})(?:\.(\d{1,9}))?s$")  # proto bounds it at ~10,000 years


def _store(rt: Runtime) -> SqlTraceStore:
    return SqlTraceStore(rt.db, rt.tracking)


# -- proto3 JSON in and out ---------------------------------------------------------------------------

def _timestamp_ms(value: Any, name: str) -> int:
    """A ``google.protobuf.Timestamp`` in proto3 JSON (RFC 3339) as epoch milliseconds."""
    m = _TIMESTAMP.match(value) if isinstance(value, str) else None
    if m is None:
        raise InvalidInputError(f"Invalid value {value!r} for '{name}': expected an RFC 3339 timestamp",
                                field=name)
    zone = "+00:00" if m.group(8) == "Z" else m.group(8)
    try:
        moment = datetime.fromisoformat(f"{value[:19]}{zone}")
    except ValueError:
        raise InvalidInputError(f"Invalid value {value!r} for '{name}': not a real date", field=name) from None
    return int(moment.timestamp()) * 1000 + int((m.group(7) or "0").ljust(9, "0")[:3])


def _duration_ms(value: Any, name: str) -> int:
    """A ``google.protobuf.Duration`` in proto3 JSON (``"1.25s"``) as whole milliseconds."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None:
        raise InvalidInputError(f"Invalid value {value!r} for '{name}': expected a duration such as \"1.5s\"",
                                field=name)
    ms = int(Decimal(f"{m.group(2)}.{m.group(3) or '0'}") * 1000)
    return -ms if m.group(1) else ms


def _format_timestamp(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def _format_duration(ms: int) -> str:
    sign = "-" if ms < 0 else ""
    seconds, millis = divmod(abs(ms), 1000)
    return f"{sign}{seconds}.{millis:03d}s"


def _state(value: Any, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(TRACE_STATES):
        return TRACE_STATES[value]
    if value is None:
        return "STATE_UNSPECIFIED"
    if isinstance(value, str) and value in TRACE_STATES:
        return value
    raise InvalidInputError(f"Invalid value {value!r} for '{name}': expected one of {', '.join(TRACE_STATES)}",
                            field=name)


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):  # the repeated {key, value} shape some clients send for maps
        value = {to_dict(v, f"{name}[{i}]").get("key"): v.get("value") for i, v in enumerate(value)}
    for key, item in to_dict(value, name).items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidInputError(f"Invalid entry {key!r} in '{name}': keys and values must be strings", field=name)
    return dict(value)


def _optional_str(d: dict[str, Any], key: str, prefix: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"Invalid value {value!r} for '{prefix}.{key}': expected a string",
                                field=f"{prefix}.{key}")
    return value


def _location_experiment(value: Any, name: str) -> str:
    location = to_dict(value, name)
    kind = location.get("type", "MLFLOW_EXPERIMENT")
    experiment = location.get("mlflow_experiment")
    if kind not in ("MLFLOW_EXPERIMENT", 1) or not isinstance(experiment, dict):
        raise InvalidInputError(f"Only MLflow experiment locations are supported in '{name}'", field=name)
    experiment_id = experiment.get("experiment_id")
    if not isinstance(experiment_id, str) or not experiment_id:
        raise InvalidInputError(f"Missing '{name}.mlflow_experiment.experiment_id'",
                                field=f"{name}.mlflow_experiment.experiment_id")
    return experiment_id


def _trace_info_from(b: Body) -> TraceInfo:
    trace = to_dict(b.data.get("trace"), "trace")
    p = "trace.trace_info"
    info = to_dict(trace.get("trace_info"), p)
    trace_id = info.get("trace_id")
    if not isinstance(trace_id, str) or not trace_id:
        raise InvalidInputError(f"Missing value for required parameter '{p}.trace_id'.", field=f"{p}.trace_id")
    if info.get("request_time") is None:
        raise InvalidInputError(f"Missing value for required parameter '{p}.request_time'.",
                                field=f"{p}.request_time")
    duration = info.get("execution_duration")
    return TraceInfo(
        trace_id=trace_id,
        experiment_id=_location_experiment(info.get("trace_location"), f"{p}.trace_location"),
        request_time=_timestamp_ms(info["request_time"], f"{p}.request_time"),
        state=_state(info.get("state"), f"{p}.state"),
        execution_duration=None if duration is None else _duration_ms(duration, f"{p}.execution_duration"),
        client_request_id=_optional_str(info, "client_request_id", p),
        request_preview=_optional_str(info, "request_preview", p),
        response_preview=_optional_str(info, "response_preview", p),
        trace_metadata=_string_map(info.get("trace_metadata"), f"{p}.trace_metadata"),
        tags=_string_map(info.get("tags"), f"{p}.tags"),
    )


def trace_info_json(info: TraceInfo) -> dict[str, Any]:
    """A ``TraceInfoV3`` in proto3 JSON."""
    out: dict[str, Any] = {
        "trace_id": info.trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": info.experiment_id}},
        "request_time": _format_timestamp(info.request_time),
        "state": info.state,
        "trace_metadata": info.trace_metadata,
        "tags": info.tags,
    }
    if info.execution_duration is not None:
        out["execution_duration"] = _format_duration(info.execution_duration)
    for key in ("client_request_id", "request_preview", "response_preview"):
        value = getattr(info, key)
        if value is not None:
            out[key] = value
    if info.assessments:
        out["assessments"] = [assessment_json(a) for a in info.assessments]
    return out


def assessment_json(a: Assessment) -> dict[str, Any]:
    """An ``Assessment`` in proto3 JSON."""
    out = {**a.body, "assessment_id": a.assessment_id, "assessment_name": a.name, "trace_id": a.trace_id,
           "create_time": _format_timestamp(a.create_time), "last_update_time": _format_timestamp(a.last_update_time),
           "valid": a.valid}
    if a.overrides:
        out["overrides"] = a.overrides
    return out


def _strings(b: Body, name: str) -> list[str]:
    items = b.list(name)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInputError(f"Invalid value {item!r} for '{name}[{i}]': expected a string", field=name)
    return items


# -- handlers -----------------------------------------------------------------------------------------

def start_trace(rt: Runtime, b: Body) -> dict[str, Any]:
    return {"trace": {"trace_info": trace_info_json(_store(rt).start_trace(_trace_info_from(b)))}}


def get_info(rt: Runtime, b: Body) -> dict[str, Any]:
    return {"trace": {"trace_info": trace_info_json(_store(rt).get_trace_info(b.str("trace_id", required=True)))}}


def search(rt: Runtime, b: Body) -> dict[str, Any]:
    experiment_ids = [_location_experiment(loc, f"locations[{i}]") for i, loc in enumerate(b.list("locations"))]
    experiment_ids += _strings(b, "experiment_ids")  # SearchTraces (v2) names the experiments directly
    if not experiment_ids:
        raise InvalidInputError("Missing value for required parameter 'locations'.", field="locations")
    infos, token = _store(rt).search_traces(
        experiment_ids, b.str("filter"), b.int("max_results", default=100), _strings(b, "order_by"),
        b.str("page_token"))
    out: dict[str, Any] = {"traces": [trace_info_json(i) for i in infos]}
    if token:
        out["next_page_token"] = token
    return out


def batch_get_infos(rt: Runtime, b: Body) -> dict[str, Any]:
    experiments = _strings(b, "experiment_ids") if b.data.get("experiment_ids") is not None else None
    infos = _store(rt).batch_get_trace_infos(_strings(b, "trace_ids"), experiments)
    return {"trace_infos": [trace_info_json(i) for i in infos]}


def delete_traces(rt: Runtime, b: Body) -> dict[str, Any]:
    deleted = _store(rt).delete_traces(
        b.str("experiment_id", required=True),
        max_timestamp_millis=b.int("max_timestamp_millis"),
        max_traces=b.int("max_traces"),
        trace_ids=_strings(b, "request_ids") or _strings(b, "trace_ids"),
    )
    for trace_id, location in deleted.items():
        _drop_span_data(rt, trace_id, location)
    return {"traces_deleted": len(deleted)}


def _drop_span_data(rt: Runtime, trace_id: str, location: str | None) -> None:
    """Remove a deleted trace's uploaded spans when they live in this server's artifact store.

    Best effort: the traces are already deleted, so a failure here is logged, not returned.
    """
    if not location or not location.startswith("mlflow-artifacts:"):
        return
    try:
        key = artifact_key(location)
        if key.endswith(f"traces/{trace_id}/artifacts"):  # only ever the trace's own folder
            rt.artifacts.delete(posixpath.dirname(key))
    except NotFoundError:
        pass  # the client never uploaded spans for this trace
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("could not delete the span data of trace %s at %s", trace_id, location, exc_info=True)


def set_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    _store(rt).set_trace_tag(b.str("trace_id", required=True), b.str("key", required=True),
                             b.str("value", required=True))
    return {}


def delete_tag(rt: Runtime, b: Body) -> dict[str, Any]:
    _store(rt).delete_trace_tag(b.str("trace_id", required=True), b.str("key", required=True))
    return {}


async def get_trace_artifact(request: Request) -> Response:
    """A trace's ``traces.json`` (or ``path`` among its attachments), as MLflow's UI fetches span data."""
    rt: Runtime = request.app.state.runtime
    trace_id = request.query_params.get("request_id")
    if not trace_id:
        raise InvalidInputError('Request must include the "request_id" query parameter.', field="request_id")
    path = request.query_params.get("path")
    rel = posixpath.join("attachments", safe_path(path, allow_empty=False)) if path else "traces.json"
    info = await run_in_threadpool(_store(rt).get_trace_info, trace_id)
    location = info.tags.get(ARTIFACT_LOCATION_TAG)
    if not location:
        raise NotFoundError(f"Trace with ID '{trace_id}' has no span data location", field="request_id")
    return await download_artifact(rt, artifact_key(location, rel), rel)


MLFLOW_EXPERIMENT_HEADER = "x-mlflow-experiment-id"  # what the MLflow client sends on its OTLP exports


async def otlp_export(request: Request) -> Response:
    """MLflow's OTLP span exports are declined (501): the client then keeps spans in the trace's
    ``traces.json`` artifact. Other OTLP exporters (collectors, SDKs) feed the AIOps service map."""
    if MLFLOW_EXPERIMENT_HEADER not in request.headers:
        from opsloop.server.aiops.ingest import otlp_traces_export

        return await otlp_traces_export(request)
    return json_response({
        "error_code": "NOT_IMPLEMENTED",
        "message": "REST OTLP span logging is not supported by opsloop; trace spans are stored as the "
                   "traces.json artifact at the trace's mlflow.artifactLocation",
    }, 501)


routes = [
    *api_route("/traces", ["POST"], start_trace),
    *api_route("/traces/search", ["POST"], search),
    *api_route("/traces/batchGetInfos", ["POST"], batch_get_infos),
    *api_route("/traces/delete-traces", ["POST"], delete_traces),
    *api_route("/traces/{trace_id}/tags", ["PATCH"], set_tag),
    *api_route("/traces/{trace_id}/tags", ["DELETE"], delete_tag),
    *api_route("/traces/{trace_id}", ["GET"], get_info),
    Route("/ajax-api/2.0/mlflow/get-trace-artifact", get_trace_artifact, methods=["GET"]),
    Route("/ajax-api/3.0/mlflow/get-trace-artifact", get_trace_artifact, methods=["GET"]),
    Route("/v1/traces", otlp_export, methods=["POST"]),
]
