"""OpenTelemetry OTLP/HTTP receiver for logs (``/v1/logs``) and metrics (``/v1/metrics``), in JSON
(``application/json``) and protobuf (``application/x-protobuf``).

Logs: each ``LogRecord`` becomes a ``log`` signal: resource and record attributes are its labels
(nested values flattened to JSON text), the resource's ``service.name`` its service, the body its text, ``severityNumber`` (or ``severityText``) its
severity, the trace and span ids and the scope (the logger: name, version) its evidence. Metrics: gauge and sum points become ``MetricPoint``s
named by the metric (``__name__``); histograms and summaries give ``_count`` and ``_sum`` series
(summaries also their quantiles); a point flagged as having no recorded value is skipped. Records
that fail validation are rejected one by one and the response reports them as the spec's *partial
success*; a body that cannot be decoded is a 400.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from opsloop.aiops.ingestion.normalise import Decoded, Limits, MetricPoint, load_json, service_of
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["decode_logs", "decode_metrics", "error_body", "success_body"]

JSON, PROTOBUF = "application/json", "application/x-protobuf"
# DataPointFlags.FLAG_NO_RECORDED_VALUE: the series has no value at that time (what a Collector's
# Prometheus receiver sends for a staleness marker); such a point is skipped, not read as a zero
NO_RECORDED_VALUE = 1
_UNNAMED = "a metric needs a 'name'"
MAX_SCOPE = 256  # characters kept of a scope's name or version, and of an event's name
_IDS = (("traceId", "traceId"), ("spanId", "spanId"), ("trace_id", "traceId"), ("span_id", "spanId"))


def content_kind(content_type: str) -> str:
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("application/x-protobuf", "application/protobuf"):
        return PROTOBUF
    if ct in ("application/json", ""):
        return JSON
    raise InvalidInputError(f"unsupported Content-Type {content_type!r}: use application/json or "
                            "application/x-protobuf", field="content-type")


def _severity(number: int, text: str) -> Severity:
    if number:
        return Severity.INFO if number <= 12 else Severity.WARNING if number <= 16 else (
            Severity.ERROR if number <= 20 else Severity.CRITICAL)
    return Severity.parse(text) if text else Severity.INFO


# --- JSON ---------------------------------------------------------------------------------------------
# SeverityNumber by name, as protobuf's JSON mapping may write an enum: SEVERITY_NUMBER_WARN3 = 15
_SEVERITY_NAMES = {f"SEVERITY_NUMBER_{name}{'' if i == 0 else i + 1}": first + i
                   for name, first in (("TRACE", 1), ("DEBUG", 5), ("INFO", 9), ("WARN", 13), ("ERROR", 17),
                                       ("FATAL", 21)) for i in range(4)}
_SEVERITY_NAMES["SEVERITY_NUMBER_UNSPECIFIED"] = 0


def _severity_number(value: Any) -> int:
    """A record's ``severityNumber``: a number (or its digits) or its enum name; else a 400 naming it."""
    if value is None or value == "":
        return 0
    if isinstance(value, str):
        if value in _SEVERITY_NAMES:
            return _SEVERITY_NAMES[value]
        if value.strip().isdigit():
            return int(value)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value % 1 == 0:
        return int(value)
    raise InvalidInputError(f"'severityNumber': expected a SeverityNumber (0-24 or its name), got {value!r}",
                            field="severityNumber")


def _either(v: dict[str, Any], camel: str, snake: str) -> Any:
    """The value under the JSON name or the proto name; the caller checked that one of them is there."""
    return v[camel] if camel in v else v[snake]


def _any_json(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "string_value"):
        if key in v:
            return v[key]
    if "boolValue" in v or "bool_value" in v:
        return bool(v.get("boolValue", v.get("bool_value")))
    if "intValue" in v or "int_value" in v:
        return int(_either(v, "intValue", "int_value"))
    if "doubleValue" in v or "double_value" in v:
        return float(_either(v, "doubleValue", "double_value"))
    if "arrayValue" in v or "array_value" in v:
        return [_any_json(x) for x in (v.get("arrayValue") or v.get("array_value") or {}).get("values", [])]
    if "kvlistValue" in v or "kvlist_value" in v:
        kv = (v.get("kvlistValue") or v.get("kvlist_value") or {}).get("values", [])
        return {x.get("key", ""): _any_json(x.get("value")) for x in kv if isinstance(x, dict)}
    if "bytesValue" in v or "bytes_value" in v:
        return v.get("bytesValue", v.get("bytes_value"))
    return None


def _flat(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _value_json(v: Any) -> str | None:
    """``_flat(_any_json(v))``, the common ``{"stringValue": "..."}`` first."""
    if type(v) is dict:
        text = v.get("stringValue")
        if type(text) is str:
            return text
    return _flat(_any_json(v))


def _attrs_json(items: Any, name: str) -> dict[str, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise InvalidInputError(f"'{name}' must be a list of key/value pairs", field=name)
    out = {}
    for kv in items:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise InvalidInputError(f"'{name}' entries need a string 'key'", field=name)
        try:
            value = _value_json(kv.get("value"))
        except (AttributeError, TypeError, ValueError):  # an arrayValue that is no object…
            raise InvalidInputError(f"'{name}.{kv['key']}': bad value", field=name) from None
        if value is not None:
            out[kv["key"]] = value
    return out


def _list(doc: Any, *names: str) -> list[Any]:
    if not isinstance(doc, dict):
        raise InvalidInputError(f"expected an object holding '{names[0]}'", field=names[0])
    for name in names:
        if name in doc:
            value = doc[name]
            if value is None:
                return []
            if not isinstance(value, list):
                raise InvalidInputError(f"'{name}' must be a list", field=name)
            return value
    return []


def _nanos(doc: dict[str, Any], *names: str) -> int:
    for name in names:
        value = doc.get(name)
        if value not in (None, "", 0, "0"):
            try:
                return int(value)
            except (TypeError, ValueError):
                raise InvalidInputError(f"'{name}' must be an integer of nanoseconds", field=name) from None
    return 0


def _resource_labels(limits: Limits, attrs: dict[str, str]) -> tuple[dict[str, str], str]:
    """A resource's labels, or why its items are refused (its attributes break a label limit): one such
    resource costs its own records or points, not the whole export of every resource a Collector batched."""
    try:
        return limits.labels(attrs, "resource.attributes"), ""
    except InvalidInputError as exc:
        return {}, exc.message


def _resource_json(doc: Any, limits: Limits) -> tuple[dict[str, str], str]:
    if not isinstance(doc, dict):
        raise InvalidInputError("each resourceLogs/resourceMetrics entry must be an object", field="resource")
    res = doc.get("resource") or {}
    if not isinstance(res, dict):
        raise InvalidInputError("'resource' must be an object", field="resource")
    return _resource_labels(limits, _attrs_json(res.get("attributes"), "resource.attributes"))


def _scope_evidence(name: str, version: str) -> dict[str, str]:
    """The ``scope`` a log record's evidence names (the logger that wrote it), empty parts left out."""
    return {k: v[:MAX_SCOPE] for k, v in (("name", name), ("version", version)) if v}


def _scope_json(sl: dict[str, Any]) -> dict[str, str]:
    scope = sl.get("scope") or {}
    if not isinstance(scope, dict):
        raise InvalidInputError("'scope' must be an object", field="scope")
    name, version = scope.get("name") or "", scope.get("version") or ""
    if not isinstance(name, str) or not isinstance(version, str):
        raise InvalidInputError("'scope.name' and 'scope.version' must be strings", field="scope")
    return _scope_evidence(name, version)


def _logs_json(body: bytes, limits: Limits, now: float) -> Decoded:
    payload = load_json(body)
    out = Decoded()
    index = 0
    for rl in _list(payload, "resourceLogs", "resource_logs"):
        resource, refused = _resource_json(rl, limits)
        for sl in _list(rl, "scopeLogs", "scope_logs"):
            records = _list(sl, "logRecords", "log_records")  # first: it checks that sl is an object
            scope = _scope_json(sl)
            for rec in records:
                out.items += 1
                try:
                    if refused:
                        raise InvalidInputError(refused)
                    if not isinstance(rec, dict):
                        raise InvalidInputError("a log record must be an object")
                    attrs = _attrs_json(rec.get("attributes"), "attributes")
                    t = _nanos(rec, "timeUnixNano", "time_unix_nano", "observedTimeUnixNano",
                               "observed_time_unix_nano")
                    body_value = _value_json(rec.get("body")) or ""
                    sev = _severity(_severity_number(rec.get("severityNumber", rec.get("severity_number"))),
                                    rec.get("severityText", rec.get("severity_text", "")) or "")
                    ev: dict[str, Any] = {"scope": scope} if scope else {}
                    for key, name in _IDS:
                        if rec.get(key):
                            ev[name] = rec[key]
                    event = rec.get("eventName", rec.get("event_name")) or ""
                    if not isinstance(event, str):
                        raise InvalidInputError("'eventName' must be a string", field="eventName")
                    if event:  # an OpenTelemetry event: its name is its text where the body is empty
                        ev["eventName"] = event[:MAX_SCOPE]
                    _log(out, limits, resource, attrs, t, body_value or event, sev, ev, now)
                except (InvalidInputError, TypeError, ValueError) as exc:
                    out.reject(index, getattr(exc, "message", str(exc)))
                index += 1
    return out


def _log(out: Decoded, limits: Limits, resource: dict[str, str], attrs: dict[str, str], t_ns: int, text: str,
         sev: Severity, evidence: dict[str, Any], now: float) -> None:
    """One log record; ``resource`` labels were validated once for their whole resource."""
    if attrs:
        cap = limits.max_label_bytes
        long = [k for k, v in attrs.items() if len(v) > cap and len(v.encode()) > cap]
        if long:  # a stack trace, say: the label holds its start, the evidence all of it (as text may)
            evidence = {**evidence, "attributes": {k: attrs[k][: limits.max_text_bytes] for k in long}}
            attrs = {**attrs, **{k: _cut(attrs[k], cap) for k in long}}
        labels = {**resource, **limits.labels(attrs)}
        if len(labels) > limits.max_labels:
            raise InvalidInputError(f"{len(labels)} labels exceed the limit of {limits.max_labels}", field="labels")
    else:
        labels = dict(resource)
    t = t_ns / 1e9 if t_ns else now
    if t > now + limits.max_future_skew_s or t < now - limits.max_past_s:
        limits.time(t, now, "timeUnixNano")
    if len(text) > limits.max_text_bytes:
        text = text[: limits.max_text_bytes]
    if "\x00" in text:  # as U+FFFD, the miner's stand-in for bytes that are no text: PostgreSQL stores no NUL
        text = text.replace("\x00", "\ufffd")
    out.signals.append(Signal(t, "otlp", SignalKind.LOG, _log_service(resource, labels), labels, sev, text, {},
                              "firing", evidence))


def _log_service(resource: dict[str, str], labels: dict[str, str]) -> str:
    """The service of a log record: its resource's ``service.name``, which identifies the service in
    OpenTelemetry's semantic conventions (a record attribute ``service`` stays a label). Where the resource
    names none, or only the SDK's stand-in ``unknown_service[:process]``, the labels' service as for any
    signal."""
    name = resource.get("service.name", "")
    if not name.startswith("unknown_service"):
        return name or service_of(labels)
    return service_of({k: v for k, v in labels.items() if k != "service.name"}) or name


def _cut(value: str, max_bytes: int) -> str:
    """``value`` shortened to at most ``max_bytes`` of UTF-8, ending in an ellipsis."""
    return value.encode()[: max_bytes - 3].decode(errors="ignore") + "…"


def _metrics_json(body: bytes, limits: Limits, now: float) -> Decoded:
    payload = load_json(body)
    out = Decoded()
    index = 0
    for rm in _list(payload, "resourceMetrics", "resource_metrics"):
        resource, refused = _resource_json(rm, limits)
        for sm in _list(rm, "scopeMetrics", "scope_metrics"):
            for metric in _list(sm, "metrics"):
                found = metric.get("name") if isinstance(metric, dict) else None
                name = found if isinstance(found, str) else ""
                unnamed = "" if name else _UNNAMED  # it refuses each of its points (the spec counts points)
                points = 0
                for kind in ("gauge", "sum", "histogram", "summary", "exponentialHistogram",
                             "exponential_histogram") if isinstance(metric, dict) else ():
                    data = metric.get(kind)
                    if not isinstance(data, dict):
                        continue
                    for dp in _list(data, "dataPoints", "data_points"):
                        out.items += 1
                        points += 1
                        try:
                            if refused or unnamed:
                                raise InvalidInputError(refused or unnamed)
                            if not isinstance(dp, dict):
                                raise InvalidInputError("a data point must be an object")
                            attrs = _attrs_json(dp.get("attributes"), "attributes")
                            t = _nanos(dp, "timeUnixNano", "time_unix_nano")
                            for suffix, value in _values_json(kind, dp):
                                _point(out, limits, resource, attrs, name + suffix, t, value, now)
                        except (InvalidInputError, TypeError, ValueError) as exc:
                            out.reject(index, getattr(exc, "message", str(exc)))
                        index += 1
                if unnamed and not points:  # nothing to count: the metric itself is the refused item
                    out.items += 1
                    out.reject(index, unnamed)
                    index += 1
    return out


def _values_json(kind: str, dp: dict[str, Any]) -> list[tuple[str, float]]:
    if type(dp.get("flags")) is int and dp["flags"] & NO_RECORDED_VALUE:
        return []
    if kind in ("gauge", "sum"):
        if "asDouble" in dp or "as_double" in dp:
            return [("", float(_either(dp, "asDouble", "as_double")))]
        if "asInt" in dp or "as_int" in dp:
            return [("", float(int(_either(dp, "asInt", "as_int"))))]
        raise InvalidInputError("a number data point needs asDouble or asInt")
    out = [("_count", float(int(dp.get("count", 0))))]
    if dp.get("sum") is not None:
        out.append(("_sum", float(dp["sum"])))
    if kind == "summary":
        for q in dp.get("quantileValues", dp.get("quantile_values")) or []:
            if not isinstance(q, dict):
                raise InvalidInputError("a quantile value must be an object", field="quantileValues")
            out.append((f"{{quantile={q.get('quantile', 0)}}}", float(q.get("value", 0))))
    return out


def _point(out: Decoded, limits: Limits, resource: dict[str, str], attrs: dict[str, str], name: str, t_ns: int,
           value: float, now: float) -> None:
    if "{quantile=" in name:
        name, q = name.split("{quantile=")
        attrs = {**attrs, "quantile": q.rstrip("}")}
    labels = limits.labels({**resource, **attrs, "__name__": name})
    t = limits.time(t_ns / 1e9 if t_ns else now, now, "timeUnixNano")
    if not math.isnan(value):
        out.points.append(MetricPoint(labels, t, value))


# --- entry points and responses ---------------------------------------------------------------------------
def decode_logs(body: bytes, content_type: str, limits: Limits, now: float) -> Decoded:
    if content_kind(content_type) == PROTOBUF:
        from opsloop.aiops.ingestion.otlp_protobuf import logs_pb

        return logs_pb(body, limits, now)
    return _logs_json(body, limits, now)


def decode_metrics(body: bytes, content_type: str, limits: Limits, now: float) -> Decoded:
    if content_kind(content_type) == PROTOBUF:
        from opsloop.aiops.ingestion.otlp_protobuf import metrics_pb

        return metrics_pb(body, limits, now)
    return _metrics_json(body, limits, now)


# the partial success's count of rejected items per signal: its JSON name and its proto field
_REJECTED = {"logs": ("rejectedLogRecords", "rejected_log_records"),
             "metrics": ("rejectedDataPoints", "rejected_data_points"),
             "traces": ("rejectedSpans", "rejected_spans")}


def success_body(signal: str, decoded: Decoded, kind: str) -> bytes:
    """``Export*ServiceResponse``, with ``partial_success`` when records were rejected."""
    rejected = len(decoded.rejected)
    message = decoded.summary() if rejected else ""
    field = _REJECTED[signal]
    if kind == PROTOBUF:
        if signal == "logs":
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse as R
        elif signal == "traces":
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTraceServiceResponse as R,
            )
        else:
            from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                ExportMetricsServiceResponse as R,
            )
        resp = R()
        if rejected:
            resp.partial_success.error_message = message
            setattr(resp.partial_success, field[1], rejected)
        return resp.SerializeToString()
    if not rejected:
        return b"{}"
    return orjson.dumps({"partialSuccess": {field[0]: str(rejected), "errorMessage": message}})


def error_body(code: int, message: str, kind: str) -> bytes:
    """A ``google.rpc.Status`` (code, message), in the request's encoding."""
    if kind == PROTOBUF:
        msg = message.encode()
        out = bytearray([0x08]) + _vint(code) + bytearray([0x12]) + _vint(len(msg)) + msg
        return bytes(out)
    return orjson.dumps({"code": code, "message": message})


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)
