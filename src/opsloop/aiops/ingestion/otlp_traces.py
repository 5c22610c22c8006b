"""OpenTelemetry OTLP/HTTP traces (``/v1/traces``): ``ExportTraceServiceRequest`` in JSON
(``application/json``, hex ids, camelCase keys) or protobuf (``application/x-protobuf``).

Spans are not stored: each becomes a ``SpanCall`` (its ids, its service, its kind and the service its
client attributes name), which ``CallGraph`` joins into service dependencies. A span that fails
validation (an id of the wrong length, say) is rejected alone and reported as the spec's *partial
success*; a body that cannot be decoded is a 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.ingestion.normalise import Decoded, load_json
from opsloop.aiops.ingestion.otlp import PROTOBUF, _attrs_json, _list, _value_json, content_kind
from opsloop.errors import InvalidInputError

__all__ = ["DecodedSpans", "SpanCall", "decode_traces"]

# SpanKind values of trace.proto
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": INTERNAL, "SPAN_KIND_SERVER": SERVER,
               "SPAN_KIND_CLIENT": CLIENT, "SPAN_KIND_PRODUCER": PRODUCER, "SPAN_KIND_CONSUMER": CONSUMER}
STATUS_ERROR = 2
# Span attributes naming what a client span calls: the service, then the host (newer convention first).
PEER_ATTRIBUTES = ("peer.service", "server.address", "net.peer.name")
MAX_SERVICE = 200  # the topology store's column width
_HEX = re.compile(r"^[0-9a-fA-F]*$")


@dataclass(slots=True)
class SpanCall:
    """What one span says about who called whom: its ids (hex), service, kind and named peer."""

    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    service: str
    kind: int
    peer: str = ""  # the service a client/producer span names in ``peer.service``, "" if none
    address: str = ""  # the host it names (``server.address``, ``net.peer.name``): a service if one is called so
    error: bool = False


@dataclass
class DecodedSpans(Decoded):
    """A decoded trace export: its spans (no signals), and the rejected ones."""

    spans: list[SpanCall] = field(default_factory=list)


def _service(resource: dict[str, str]) -> str:
    name = resource.get("service.name", "")
    if len(name) > MAX_SERVICE:
        raise InvalidInputError(f"'resource.attributes.service.name' is longer than {MAX_SERVICE} characters",
                                field="service.name")
    return name


def _peer(attrs: dict[str, str]) -> tuple[str, str]:
    """The ``peer.service`` and the host named, each "" when absent."""
    address = attrs.get("server.address") or attrs.get("net.peer.name") or ""
    return attrs.get("peer.service", "")[:MAX_SERVICE], address[:MAX_SERVICE]


def _collect(out: DecodedSpans, spans: Iterable[Any], service: str, read: Callable[[Any, str], SpanCall]) -> None:
    """Read ``spans`` of ``service`` into ``out``; one that fails validation is rejected alone."""
    for span in spans:
        index = out.items
        out.items += 1
        try:
            out.spans.append(read(span, service))
        except InvalidInputError as exc:
            out.reject(index, exc.message)


# --- JSON ---------------------------------------------------------------------------------------------
def _hex_id(doc: dict[str, Any], names: tuple[str, str], digits: int, required: bool) -> str:
    value = doc.get(names[0], doc.get(names[1]))
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or len(value) != digits or not _HEX.match(value):
        raise InvalidInputError(f"'{names[0]}' must be {digits} hex digits", field=names[0])
    return value.lower()


def _kind_json(doc: dict[str, Any]) -> int:
    value = doc.get("kind", 0)
    if isinstance(value, str):
        if value not in _KIND_NAMES:
            raise InvalidInputError(f"'kind': unknown span kind {value!r}", field="kind")
        return _KIND_NAMES[value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= CONSUMER:
        return value
    raise InvalidInputError("'kind' must be a SpanKind (0-5 or its name)", field="kind")


def _error_json(doc: dict[str, Any]) -> bool:
    status = doc.get("status")
    if not isinstance(status, dict):
        return False
    code = status.get("code", 0)
    return code in (STATUS_ERROR, "STATUS_CODE_ERROR")


def _peer_json(items: Any) -> tuple[str, str]:
    if not isinstance(items, list):
        return _peer(_attrs_json(items, "attributes"))  # None → {}, anything else → a 4xx naming it
    wanted = {}
    for kv in items:
        if isinstance(kv, dict) and kv.get("key") in PEER_ATTRIBUTES:
            try:
                value = _value_json(kv.get("value"))
            except (AttributeError, TypeError, ValueError):
                raise InvalidInputError(f"'attributes.{kv['key']}': bad value", field="attributes") from None
            if value:
                wanted[kv["key"]] = value
    return _peer(wanted)


def _span_json(doc: Any, service: str) -> SpanCall:
    if not isinstance(doc, dict):
        raise InvalidInputError("a span must be an object", field="spans")
    kind = _kind_json(doc)
    peer, address = _peer_json(doc.get("attributes")) if kind in (CLIENT, PRODUCER) else ("", "")
    return SpanCall(
        trace_id=_hex_id(doc, ("traceId", "trace_id"), 32, True),
        span_id=_hex_id(doc, ("spanId", "span_id"), 16, True),
        parent_id=_hex_id(doc, ("parentSpanId", "parent_span_id"), 16, False),
        service=service,
        kind=kind,
        peer=peer,
        address=address,
        error=_error_json(doc),
    )


def _traces_json(body: bytes) -> DecodedSpans:
    payload = load_json(body)
    out = DecodedSpans()
    for rs in _list(payload, "resourceSpans", "resource_spans"):
        if not isinstance(rs, dict):
            raise InvalidInputError("each resourceSpans entry must be an object", field="resourceSpans")
        res = rs.get("resource") or {}
        if not isinstance(res, dict):
            raise InvalidInputError("'resource' must be an object", field="resource")
        service = _service(_attrs_json(res.get("attributes"), "resource.attributes"))
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            _collect(out, _list(ss, "spans"), service, _span_json)
    return out


# --- protobuf -----------------------------------------------------------------------------------------
def _traces_pb(body: bytes) -> DecodedSpans:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from opsloop.aiops.ingestion.otlp_protobuf import _attrs_pb, _parse_pb

    req = _parse_pb(ExportTraceServiceRequest, body)
    out = DecodedSpans()
    for rs in req.resource_spans:
        service = _service(_attrs_pb(rs.resource.attributes))
        for ss in rs.scope_spans:
            _collect(out, ss.spans, service, _span_pb)
    return out


def _span_pb(span: Any, service: str) -> SpanCall:
    if len(span.trace_id) != 16:
        raise InvalidInputError("'trace_id' must be 16 bytes", field="trace_id")
    if len(span.span_id) != 8:
        raise InvalidInputError("'span_id' must be 8 bytes", field="span_id")
    if span.parent_span_id and len(span.parent_span_id) != 8:
        raise InvalidInputError("'parent_span_id' must be 8 bytes or empty", field="parent_span_id")
    peer = address = ""
    if span.kind in (CLIENT, PRODUCER):
        peer, address = _peer({kv.key: kv.value.string_value for kv in span.attributes if kv.key in PEER_ATTRIBUTES})
    return SpanCall(span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), service, int(span.kind),
                    peer, address, span.status.code == STATUS_ERROR)


def decode_traces(body: bytes, content_type: str) -> DecodedSpans:
    """The spans of an ``ExportTraceServiceRequest`` (JSON or protobuf, by ``content_type``). Only the
    resource's ``service.name`` is read of its attributes, so no label limit applies."""
    if content_kind(content_type) == PROTOBUF:
        return _traces_pb(body)
    return _traces_json(body)
