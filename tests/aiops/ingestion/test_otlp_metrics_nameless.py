"""A metric without a name is refused point by point, in JSON as in protobuf (protobuf stored a series
named ""), and the partial success counts its data points, as the spec's rejected_data_points says."""

from __future__ import annotations

import time

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from tests.aiops.ingestion._helpers import signals


def _export() -> dict:
    now = str(time.time_ns())
    points = [{"timeUnixNano": now, "asDouble": float(v)} for v in range(3)]
    return {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"gauge": {"dataPoints": points}},
        {"name": "queue_depth", "gauge": {"dataPoints": [{"timeUnixNano": now, "asDouble": 7.0}]}},
    ]}]}]}


def test_json_nameless_metric_rejects_each_point(client) -> None:  # noqa: ANN001
    partial = client.post("/v1/metrics", json=_export()).json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "3" and "'name'" in partial["errorMessage"]
    assert [s["labels"]["__name__"] for s in signals(client, kind="metric")] == ["queue_depth"]


def test_protobuf_nameless_metric_rejects_each_point(client) -> None:  # noqa: ANN001
    body = ParseDict(_export(), ExportMetricsServiceRequest()).SerializeToString()
    r = client.post("/v1/metrics", content=body, headers={"content-type": "application/x-protobuf"})
    partial = ExportMetricsServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_data_points == 3 and "'name'" in partial.error_message
    assert [s["labels"]["__name__"] for s in signals(client, kind="metric")] == ["queue_depth"]
