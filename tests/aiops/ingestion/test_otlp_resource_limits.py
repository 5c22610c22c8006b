"""A resource whose attributes break a label limit costs only its own records: the Collector batches many
resources in one export, and a 400 for the whole request (not retried) would drop every other one."""

from __future__ import annotations

import time

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from tests.aiops.ingestion._helpers import signals


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def _export(long_value: str) -> dict:
    now = str(time.time_ns())
    return {"resourceLogs": [
        {"resource": {"attributes": [_kv("service.name", "cart")]},
         "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": "cart ok"}}]}]},
        {"resource": {"attributes": [_kv("service.name", "pod-x"), _kv("process.command_line", long_value)]},
         "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": f"line {i}"}}
                                       for i in range(2)]}]},
        {"resource": {"attributes": [_kv("service.name", "payments")]},
         "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": "payments ok"}}]}]},
    ]}


def test_logs_json_resource_over_a_limit_rejects_its_records_only(client) -> None:  # noqa: ANN001
    r = client.post("/v1/logs", json=_export("x" * 5000))
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "2"
    assert "resource.attributes.process.command_line" in partial["errorMessage"]
    assert sorted(s["text"] for s in signals(client, kind="log")) == ["cart ok", "payments ok"]


def test_logs_protobuf_resource_over_a_limit_rejects_its_records_only(client) -> None:  # noqa: ANN001
    body = ParseDict(_export("x" * 5000), ExportLogsServiceRequest()).SerializeToString()
    r = client.post("/v1/logs", content=body, headers={"content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_log_records == 2
    assert "resource.attributes.process.command_line" in resp.partial_success.error_message
    assert sorted(s["text"] for s in signals(client, kind="log")) == ["cart ok", "payments ok"]


def test_metrics_json_resource_over_a_limit_rejects_its_points_only(client) -> None:  # noqa: ANN001
    now = str(time.time_ns())

    def gauge(value: float) -> dict:
        return {"name": "queue_depth", "gauge": {"dataPoints": [{"timeUnixNano": now, "asDouble": value}]}}

    body = {"resourceMetrics": [
        {"resource": {"attributes": [_kv("service.name", "pod-x"), _kv("k8s.pod.uid", "y" * 5000)]},
         "scopeMetrics": [{"metrics": [gauge(1.0)]}]},
        {"resource": {"attributes": [_kv("service.name", "worker")]}, "scopeMetrics": [{"metrics": [gauge(7.0)]}]},
    ]}
    r = client.post("/v1/metrics", json=body)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "1" and "resource.attributes.k8s.pod.uid" in partial["errorMessage"]
    rows = signals(client, kind="metric")
    assert [(s["service"], s["values"]["value"]) for s in rows] == [("worker", 7.0)]
