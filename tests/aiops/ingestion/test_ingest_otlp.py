"""OTLP/HTTP logs and metrics: JSON and protobuf, partial success, bad input, and the real OTel SDK exporter."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from tests.aiops.ingestion._helpers import API, otel_logger, signals

PB = {"content-type": "application/x-protobuf"}


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def logs_json(records: list[dict], service: str = "checkout") -> dict:
    return {"resourceLogs": [{"resource": {"attributes": [_kv("service.name", service)]},
                              "scopeLogs": [{"scope": {"name": "test"}, "logRecords": records}]}]}


def record(text: str, t: float | None = None, sev: int = 9, **attrs: str) -> dict:
    return {"timeUnixNano": str(int((t or time.time()) * 1e9)), "severityNumber": sev, "severityText": "INFO",
            "body": {"stringValue": text}, "attributes": [_kv(k, v) for k, v in attrs.items()],
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}


def test_logs_json(client) -> None:  # noqa: ANN001
    r = client.post("/v1/logs", json=logs_json([record("payment failed", sev=17, order="42"),
                                                 record("ok", sev=9)]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {}
    rows = {s["text"]: s for s in signals(client, kind="log")}
    assert rows["payment failed"]["severity"] == "error"
    assert rows["payment failed"]["service"] == "checkout"
    assert rows["payment failed"]["labels"] == {"service.name": "checkout", "order": "42"}
    assert rows["payment failed"]["evidence"]["traceId"] == "5b8efff798038103d269b633813fc60c"
    assert rows["ok"]["severity"] == "info"


def test_logs_json_severity_number_by_name(client) -> None:  # noqa: ANN001
    """Protobuf's JSON mapping also writes an enum by its name (the Collector reads both); a value that
    is neither a number nor a SeverityNumber is refused naming the field."""
    named = [{**record(text), "severityNumber": name} for text, name in (
        ("disk almost full", "SEVERITY_NUMBER_WARN"), ("db down", "SEVERITY_NUMBER_FATAL2"), ("hi", "9"))]
    r = client.post("/v1/logs", json=logs_json([*named, {**record("odd"), "severityNumber": "LOUD"}]))
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedLogRecords"] == "1" and "'severityNumber'" in ps["errorMessage"]
    rows = {s["text"]: s["severity"] for s in signals(client, kind="log")}
    assert rows == {"disk almost full": "warning", "db down": "critical", "hi": "info"}


def test_logs_resend_folds(client) -> None:  # noqa: ANN001
    # a recent time: a record older than the log retention (7 days) is pruned by the server's next tick
    body = logs_json([record("same line", t=int(time.time()) - 59.5)])
    client.post("/v1/logs", json=body)
    client.post("/v1/logs", json=body)
    [row] = signals(client, kind="log")
    assert row["count"] == 2


def test_logs_partial_success_json(client) -> None:  # noqa: ANN001
    future = record("from the future", t=time.time() + 10 * 86400)
    crowded = record("crowded", **{f"attr{i}": "v" for i in range(100)})  # more labels than a signal may hold
    r = client.post("/v1/logs", json=logs_json([record("fine"), future, crowded, "not an object"]))
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedLogRecords"] == "3"
    assert "future" in ps["errorMessage"]
    assert [s["text"] for s in signals(client, kind="log")] == ["fine"]


def test_logs_protobuf_and_partial_success(client) -> None:  # noqa: ANN001
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    a = rl.resource.attributes.add()
    a.key, a.value.string_value = "service.name", "payments"
    sl = rl.scope_logs.add()
    for text, t in (("card declined", time.time()), ("too late", time.time() + 86400 * 30)):
        rec = sl.log_records.add()
        rec.time_unix_nano = int(t * 1e9)
        rec.severity_number = 13
        rec.body.string_value = text
        rec.trace_id = bytes.fromhex("5b8efff798038103d269b633813fc60c")
        kv = rec.attributes.add()
        kv.key, kv.value.int_value = "attempt", 3
    r = client.post("/v1/logs", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_log_records == 1
    [row] = signals(client, kind="log")
    assert row["service"] == "payments" and row["severity"] == "warning"
    assert row["labels"]["attempt"] == "3"
    assert row["evidence"]["traceId"] == "5b8efff798038103d269b633813fc60c"


def test_metrics_json_and_protobuf(client) -> None:  # noqa: ANN001
    now_ns = str(int(time.time() * 1e9))
    body = {"resourceMetrics": [{"resource": {"attributes": [_kv("service.name", "api")]}, "scopeMetrics": [{
        "metrics": [
            {"name": "queue_depth", "gauge": {"dataPoints": [{"timeUnixNano": now_ns, "asDouble": 7.5,
                                                                "attributes": [_kv("queue", "orders")]}]}},
            {"name": "requests", "sum": {"dataPoints": [{"timeUnixNano": now_ns, "asInt": "12"}],
                                         "isMonotonic": True, "aggregationTemporality": 2}},
            {"name": "latency", "histogram": {"dataPoints": [{"timeUnixNano": now_ns, "count": "4", "sum": 2.5,
                                                               "bucketCounts": ["1", "3"], "explicitBounds": [1]}]}},
        ]}]}]}
    r = client.post("/v1/metrics", json=body)
    assert r.status_code == 200 and r.json() == {}
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add()
    m.name = "temperature"
    dp = m.gauge.data_points.add()
    dp.time_unix_nano, dp.as_double = int(time.time() * 1e9), 21.5
    r = client.post("/v1/metrics", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    assert not ExportMetricsServiceResponse.FromString(r.content).HasField("partial_success")
    series = {s["labels"]["__name__"]: s["values"]["value"] for s in signals(client, kind="metric")}
    assert series == {"queue_depth": 7.5, "requests": 12.0, "latency_count": 4.0, "latency_sum": 2.5,
                      "temperature": 21.5}


def test_metrics_partial_success(client) -> None:  # noqa: ANN001
    body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "ok", "gauge": {"dataPoints": [{"asDouble": 1}]}},
        {"name": "bad", "gauge": {"dataPoints": [{"timeUnixNano": "1"}]}},
        {"gauge": {}},
    ]}]}]}
    r = client.post("/v1/metrics", json=body)
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedDataPoints"] == "2"


def test_points_with_no_recorded_value_are_skipped(client) -> None:  # noqa: ANN001
    """A point flagged FLAG_NO_RECORDED_VALUE (what a Collector's Prometheus receiver sends for a
    staleness marker) has no value: neither a zero in the history nor a refused point."""
    now_ns = str(int(time.time() * 1e9))
    stale = {"timeUnixNano": now_ns, "flags": 1}
    body = {"resourceMetrics": [{"resource": {"attributes": [_kv("service.name", "api")]}, "scopeMetrics": [{
        "metrics": [
            {"name": "up", "gauge": {"dataPoints": [stale, {"timeUnixNano": now_ns, "asDouble": 1, "flags": 0}]}},
            {"name": "latency", "histogram": {"dataPoints": [stale], "aggregationTemporality": 2}},
            {"name": "rpc", "summary": {"dataPoints": [stale]}},
        ]}]}]}
    r = client.post("/v1/metrics", json=body)
    assert r.status_code == 200 and r.json() == {}
    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    for name, kind in (("queue_depth", "gauge"), ("duration", "histogram")):
        m = metrics.add()
        m.name = name
        getattr(m, kind).data_points.add(time_unix_nano=int(now_ns), flags=1)
    r = client.post("/v1/metrics", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    assert not ExportMetricsServiceResponse.FromString(r.content).HasField("partial_success")
    assert {s["labels"]["__name__"]: s["values"]["value"] for s in signals(client, kind="metric")} == {"up": 1.0}


@pytest.mark.parametrize("path", ["/v1/logs", "/v1/metrics"])
def test_malformed_bodies(client, path: str) -> None:  # noqa: ANN001
    r = client.post(path, content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["message"]
    r = client.post(path, content=b"\xff\xff\xff\xff garbage", headers=PB)
    assert r.status_code == 400 and r.headers["content-type"] == "application/x-protobuf"
    r = client.post(path, content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = client.post(path, json={"resourceLogs": "nope", "resourceMetrics": "nope"})
    assert r.status_code == 400


def test_gzip_body(client) -> None:  # noqa: ANN001
    import gzip

    body = gzip.compress(orjson.dumps(logs_json([record("zipped")])))
    r = client.post("/v1/logs", content=body, headers={"content-type": "application/json",
                                                       "content-encoding": "gzip"})
    assert r.status_code == 200
    assert [s["text"] for s in signals(client, kind="log")] == ["zipped"]
    r = client.post("/v1/logs", content=b"not gzip", headers={"content-type": "application/json",
                                                              "content-encoding": "gzip"})
    assert r.status_code == 400


def test_real_otel_sdk_exporters(server) -> None:  # noqa: ANN001
    """The OpenTelemetry Python SDK's own OTLP/HTTP exporters (protobuf) against a running server."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http",
                        reason="opentelemetry-exporter-otlp-proto-http is not installed")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    with otel_logger(server.url, "otel-checkout", "otel-e2e") as logger:
        logger.error("payment gateway timeout after %d ms", 3000)

    resource = Resource.create({"service.name": "otel-checkout"})
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=server.url + "/v1/metrics"),
                                           export_interval_millis=60_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    meters.get_meter("e2e").create_counter("orders_total").add(5, {"region": "eu"})
    meters.shutdown()

    rows = httpx.get(server.url + API + "/signals", params={"service": "otel-checkout"}).json()["signals"]
    logs = [s for s in rows if s["kind"] == "log"]
    assert [s["text"] for s in logs] == ["payment gateway timeout after 3000 ms"]
    assert logs[0]["severity"] == "error"
    metrics = [s for s in rows if s["kind"] == "metric"]
    assert [(s["labels"]["__name__"], s["labels"]["region"], s["values"]["value"]) for s in metrics] == [
        ("orders_total", "eu", 5.0)]
