"""OTLP protobuf bodies (``application/x-protobuf``) decoded with the generated classes of
``opentelemetry-proto``; the same signals and points as the JSON decoder in ``otlp``."""

from __future__ import annotations

import base64
from typing import Any

from opsloop.aiops.ingestion.normalise import Decoded, Limits
from opsloop.aiops.ingestion.otlp import (
    _UNNAMED,
    MAX_SCOPE,
    NO_RECORDED_VALUE,
    _flat,
    _log,
    _point,
    _resource_labels,
    _scope_evidence,
    _severity,
)
from opsloop.errors import InvalidInputError

__all__ = ["logs_pb", "metrics_pb"]


def _any_pb(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_pb(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {x.key: _any_pb(x.value) for x in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


def _attrs_pb(items: Any) -> dict[str, str]:
    out = {}
    for kv in items:
        value = _flat(_any_pb(kv.value))
        if value is not None:
            out[kv.key] = value
    return out


def _parse_pb(message_cls: Any, body: bytes) -> Any:
    from google.protobuf.message import DecodeError

    msg = message_cls()
    try:
        msg.ParseFromString(body)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise InvalidInputError(f"malformed protobuf: {exc}", field="body") from None
    return msg


def logs_pb(body: bytes, limits: Limits, now: float) -> Decoded:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    req = _parse_pb(ExportLogsServiceRequest, body)
    out = Decoded()
    index = 0
    for rl in req.resource_logs:
        resource, refused = _resource_labels(limits, _attrs_pb(rl.resource.attributes))
        for sl in rl.scope_logs:
            scope = _scope_evidence(sl.scope.name, sl.scope.version)
            for rec in sl.log_records:
                out.items += 1
                try:
                    if refused:
                        raise InvalidInputError(refused)
                    attrs = _attrs_pb(rec.attributes) if len(rec.attributes) else {}
                    t = rec.time_unix_nano or rec.observed_time_unix_nano
                    text = _flat(_any_pb(rec.body)) if rec.HasField("body") else ""
                    ev: dict[str, Any] = {"scope": scope} if scope else {}
                    if rec.trace_id:
                        ev["traceId"] = rec.trace_id.hex()
                    if rec.span_id:
                        ev["spanId"] = rec.span_id.hex()
                    if rec.event_name:  # an OpenTelemetry event: its name is its text where the body is empty
                        ev["eventName"] = rec.event_name[:MAX_SCOPE]
                    _log(out, limits, resource, attrs, t, text or rec.event_name, _severity(rec.severity_number,
                                                                                          rec.severity_text), ev, now)
                except InvalidInputError as exc:
                    out.reject(index, exc.message)
                index += 1
    return out


def metrics_pb(body: bytes, limits: Limits, now: float) -> Decoded:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    req = _parse_pb(ExportMetricsServiceRequest, body)
    out = Decoded()
    index = 0
    for rm in req.resource_metrics:
        resource = _attrs_pb(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                for dp in getattr(metric, kind).data_points:
                    out.items += 1
                    try:
                        if not metric.name:
                            raise InvalidInputError(_UNNAMED)
                        attrs = _attrs_pb(dp.attributes)
                        for suffix, value in _values_pb(kind, dp):
                            _point(out, limits, resource, attrs, metric.name + suffix, dp.time_unix_nano, value, now)
                    except InvalidInputError as exc:
                        out.reject(index, exc.message)
                    index += 1
    return out


def _values_pb(kind: str, dp: Any) -> list[tuple[str, float]]:
    if dp.flags & NO_RECORDED_VALUE:
        return []
    if kind in ("gauge", "sum"):
        which = dp.WhichOneof("value")
        if which is None:
            raise InvalidInputError("a number data point needs as_double or as_int")
        return [("", float(getattr(dp, which)))]
    out = [("_count", float(dp.count))]
    if kind == "summary" or dp.HasField("sum"):
        out.append(("_sum", float(dp.sum)))
    if kind == "summary":
        for q in dp.quantile_values:
            out.append((f"{{quantile={q.quantile}}}", float(q.value)))
    return out
