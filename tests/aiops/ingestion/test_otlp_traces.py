"""OTLP/HTTP traces (``POST /v1/traces``): spans in JSON and protobuf teach the topology who calls whom;
MLflow's own exports still get 501."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents

from opsloop.server.app import create_app
from opsloop.settings import load_settings

JSON = {"content-type": "application/json"}
PB = {"content-type": "application/x-protobuf"}


@contextmanager
def app(data_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    settings = load_settings({"storage": {"data_dir": str(data_dir)}, **overrides}, environ={})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app(tmp_path / "data") as c:
        yield c


def ids() -> tuple[str, str]:
    return os.urandom(16).hex(), os.urandom(8).hex()


def span_json(trace: str, span: str, parent: str = "", kind: int | str = 2, **attrs: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"traceId": trace, "spanId": span, "name": "op", "kind": kind,
                           "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns()),
                           "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]}
    if parent:
        doc["parentSpanId"] = parent
    return doc


def export_json(*by_service: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]} for svc, spans in by_service]}


def export_pb(*by_service: tuple[str, list[tuple[str, str, str, int]]]) -> bytes:
    """``(service, [(trace hex, span hex, parent hex, kind)])`` as a serialized ExportTraceServiceRequest."""
    req = ExportTraceServiceRequest()
    for svc, spans in by_service:
        rs = req.resource_spans.add()
        rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=svc)))
        ss = rs.scope_spans.add()
        for trace, span, parent, kind in spans:
            ss.spans.append(Span(trace_id=bytes.fromhex(trace), span_id=bytes.fromhex(span),
                                 parent_span_id=bytes.fromhex(parent), name="op", kind=kind,  # type: ignore[arg-type]
                                 start_time_unix_nano=time.time_ns(), end_time_unix_nano=time.time_ns()))
    return req.SerializeToString()


def call_json(caller: str, callee: str) -> dict[str, Any]:
    """One call: a CLIENT span of ``caller`` with the SERVER span of ``callee`` under it, in one export."""
    trace, parent = ids()
    child = os.urandom(8).hex()
    return export_json((caller, [span_json(trace, parent, kind="SPAN_KIND_CLIENT")]),
                       (callee, [span_json(trace, child, parent, kind="SPAN_KIND_SERVER")]))


def traced(client: TestClient) -> dict[tuple[str, str], int]:
    r = client.get(API + "/topology")
    assert r.status_code == 200, r.text
    return {(e["source"], e["target"]): e["calls"] for e in r.json()["traced"]}


# --- learning edges ---------------------------------------------------------------------------------------
def test_json_spans_make_an_edge_once_it_has_min_calls(client: TestClient) -> None:
    for _ in range(2):
        r = client.post("/v1/traces", json=call_json("frontend", "checkout"))
        assert r.status_code == 200 and r.json() == {} and r.headers["content-type"] == "application/json"
    assert traced(client) == {}  # two calls: below the default of three
    client.post("/v1/traces", json=call_json("frontend", "checkout"))
    assert traced(client) == {("frontend", "checkout"): 3}
    doc = client.get(API + "/topology").json()
    assert doc["declared"] == [] and "learned" in doc
    assert doc["traced"][0]["last_seen"] == pytest.approx(time.time(), abs=60)


def test_protobuf_parent_and_child_in_two_requests_are_joined(client: TestClient) -> None:
    for _ in range(3):
        trace, parent = ids()
        child = os.urandom(8).hex()
        # the child's service exports first (its span ends first), its parent in a later request
        r = client.post("/v1/traces", content=export_pb(("payments", [(trace, child, parent, 2)])), headers=PB)
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
        resp = ExportTraceServiceResponse()
        resp.ParseFromString(r.content)
        assert not resp.HasField("partial_success")
        r = client.post("/v1/traces", content=export_pb(("checkout", [(trace, parent, "", 3)])), headers=PB)
        assert r.status_code == 200
    # a child whose parent is in the same service, and a parent after its child in reverse order
    trace, root = ids()
    inner = os.urandom(8).hex()
    client.post("/v1/traces", content=export_pb(("checkout", [(trace, inner, root, 1), (trace, root, "", 2)])),
                headers=PB)
    assert traced(client) == {("checkout", "payments"): 3}


def test_a_client_span_naming_its_peer_counts_the_call_once(client: TestClient) -> None:
    for _ in range(3):
        trace, parent = ids()
        child = os.urandom(8).hex()
        client.post("/v1/traces", json=export_json(
            ("web", [span_json(trace, parent, kind=3, **{"peer.service": "search"})]),
            ("search", [span_json(trace, child, parent, kind=2)])))
    # peer.service alone (the callee is not instrumented)
    for _ in range(3):
        trace, span = ids()
        client.post("/v1/traces", json=export_json(("web", [span_json(trace, span, kind=3, **{"peer.service": "redis"})])))
    assert traced(client) == {("web", "search"): 3, ("web", "redis"): 3}


def test_server_address_counts_only_when_it_names_a_known_service(client: TestClient) -> None:
    for _ in range(3):
        trace, span = ids()
        client.post("/v1/traces", json=export_json(
            ("web", [span_json(trace, span, kind=3, **{"server.address": "api.example.com"})])))
    assert traced(client) == {}
    trace, span = ids()
    client.post("/v1/traces", json=export_json(("inventory", [span_json(trace, span, kind=2)])))  # now known
    for _ in range(3):
        trace, span = ids()
        client.post("/v1/traces", json=export_json(
            ("web", [span_json(trace, span, kind="SPAN_KIND_CLIENT", **{"net.peer.name": "inventory"})])))
    assert traced(client) == {("web", "inventory"): 3}


def test_gzip_bodies_are_accepted(client: TestClient) -> None:
    import orjson

    for _ in range(3):
        body = gzip.compress(orjson.dumps(call_json("a", "b")))
        r = client.post("/v1/traces", content=body, headers={**JSON, "content-encoding": "gzip"})
        assert r.status_code == 200, r.text
    assert traced(client) == {("a", "b"): 3}


# --- refused input ---------------------------------------------------------------------------------------
def test_invalid_spans_are_a_partial_success_naming_the_field(client: TestClient) -> None:
    trace, span = ids()
    body = export_json(("web", [span_json(trace, "xyz"), span_json(trace, span, kind="SPAN_KIND_NOPE"),
                                span_json(trace[:30], span), span_json(trace, span, kind=3)]))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
        {**span_json(trace, span, kind=3), "attributes": [{"key": "peer.service", "value": {"kvlistValue": 1}}]})
    r = client.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "4"
    assert "'spanId' must be 16 hex digits" in partial["errorMessage"]
    assert "'kind'" in partial["errorMessage"] and "'traceId'" in partial["errorMessage"]
    assert "'attributes.peer.service': bad value" in partial["errorMessage"]
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.scope_spans.add().spans.append(Span(trace_id=b"short", span_id=os.urandom(8)))
    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert r.status_code == 200 and resp.partial_success.rejected_spans == 1
    assert "'trace_id' must be 16 bytes" in resp.partial_success.error_message


@pytest.mark.parametrize(("body", "named"), [
    (b"{not json", "malformed JSON"),
    (b'{"resourceSpans": 5}', "resourceSpans"),
    (b'{"resourceSpans": [5]}', "resourceSpans"),
    (b'{"resourceSpans": [{"resource": {"attributes": 7}}]}', "resource.attributes"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}', "spans"),
    (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"arrayValue": 5}}]}}]}',
     "resource.attributes.service.name"),
])
def test_undecodable_json_is_a_400_naming_the_field(client: TestClient, body: bytes, named: str) -> None:
    r = client.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == 3 and named in r.json()["message"]


def test_a_body_that_is_not_protobuf_is_a_400(client: TestClient) -> None:
    r = client.post("/v1/traces", content=b"\xff\xff\xff\xff not protobuf", headers=PB)
    assert r.status_code == 400 and r.headers["content-type"] == "application/x-protobuf"
    assert b"malformed protobuf" in r.content  # a google.rpc.Status: code 3, the message


def test_unsupported_content_type_is_415(client: TestClient) -> None:
    r = client.post("/v1/traces", content=b"a,b", headers={"content-type": "text/csv"})
    assert r.status_code == 415 and "content-type" in r.json()["message"].lower()


def test_a_body_over_the_limit_is_refused_like_the_other_otlp_signals(tmp_path: Path) -> None:
    with app(tmp_path / "data", server={"max_body_bytes": 2048}) as c:
        r = c.post("/v1/traces", content=b"x" * 10_000, headers=PB)
        assert r.status_code == 400 and b"exceeds the limit of 2048" in r.content
        bomb = gzip.compress(b"{" + b" " * 100_000 + b"}")
        r = c.post("/v1/traces", content=bomb, headers={**JSON, "content-encoding": "gzip"})
        assert r.status_code == 400 and "decompressed body exceeds 2048 bytes" in r.json()["message"]


def test_mlflow_exports_still_get_501(client: TestClient) -> None:
    r = client.post("/v1/traces", content=export_pb(("mlflow-app", [(*ids(), "", 1)])),
                    headers={**PB, "x-mlflow-experiment-id": "0"})
    assert r.status_code == 501 and r.json()["error_code"] == "NOT_IMPLEMENTED"
    assert traced(client) == {}


# --- the topology ---------------------------------------------------------------------------------------
def test_traced_edges_survive_a_declared_topology_replace_and_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with app(data, traces={"min_calls": 2}) as c:
        for _ in range(2):
            c.post("/v1/traces", json=call_json("checkout", "payments"))
        c.post("/v1/traces", json=call_json("checkout", "cart"))  # one call: counted, not an edge yet
        r = c.put(API + "/topology", json={"services": {"web": ["checkout"]}})
        assert r.status_code == 200
        assert r.json()["declared"] == [{"source": "web", "target": "checkout"}]
        assert [(e["source"], e["target"]) for e in r.json()["traced"]] == [("checkout", "payments")]
        c.post(API + "/topology", json={"edges": [{"source": "web", "target": "cdn"}]})
        assert traced(c) == {("checkout", "payments"): 2}
    with app(data, traces={"min_calls": 2}) as c:
        doc = c.get(API + "/topology").json()
        assert [(e["source"], e["target"]) for e in doc["declared"]] == [("web", "cdn"), ("web", "checkout")]
        assert traced(c) == {("checkout", "payments"): 2}
        c.post("/v1/traces", json=call_json("checkout", "cart"))  # its first call was kept across the restart
        assert traced(c) == {("checkout", "cart"): 2, ("checkout", "payments"): 2}
        r = c.put(API + "/topology", json={"services": {}})
        assert r.json()["declared"] == [] and len(r.json()["traced"]) == 2


def test_a_traced_edge_groups_an_alert_cascade(client: TestClient) -> None:
    for _ in range(3):
        client.post("/v1/traces", json=call_json("checkout", "payments"))
    t = time.time()
    am = API + "/ingest/alertmanager"
    client.post(am, json=am_payload([alert("PaymentsDown", "payments", start=t)]))
    client.post(am, json=am_payload([alert("Latency", "checkout", start=t + 20), alert("Disk", "billing", start=t + 25)]))
    incs = {i["service"]: i for i in incidents(client)}
    assert set(incs) == {"payments", "billing"}
    assert incs["payments"]["services"] == ["payments", "checkout"]


def test_error_spans_are_counted_per_service_per_minute_as_metric_series(client: TestClient) -> None:
    trace, span = ids()
    failed = {**span_json(trace, span), "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}}
    spans = [failed, span_json(*ids()), {**span_json(*ids()), "status": {"code": 2}}]
    pipeline = client.app.state.aiops  # type: ignore[attr-defined]
    minute = time.time() // 60 * 60
    pipeline.clock = lambda: minute + 10
    client.post("/v1/traces", json=export_json(("checkout", spans), ("cart", [span_json(*ids())])))
    pipeline.tick()  # the minute is not over: nothing yet
    assert client.get(API + "/metrics/series", params={"name": "trace_"}).json()["series"] == []
    pipeline.clock = lambda: minute + 65
    pipeline.tick()
    series = client.get(API + "/metrics/series", params={"name": "trace_"}).json()["series"]
    got = {(s["name"], s["service"]): s["last_value"] for s in series}
    assert got == {("trace_spans", "checkout"): 3, ("trace_error_spans", "checkout"): 2,
                   ("trace_spans", "cart"): 1, ("trace_error_spans", "cart"): 0}
