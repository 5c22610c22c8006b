"""A record refused for its time names the OTLP field the sender wrote, not opsloop's internal name."""

from __future__ import annotations

import time

import pytest


@pytest.mark.parametrize(("divisor", "ahead_s", "fragment"), [
    (10**6, 0, "too far in the past"),  # milliseconds where nanoseconds belong
    (1, 7200, "in the future"),
])
def test_logs_refused_time_names_time_unix_nano(client, divisor: int, ahead_s: int, fragment: str) -> None:  # noqa: ANN001
    nanos = (time.time_ns() + ahead_s * 10**9) // divisor
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": str(nanos),
                                                             "body": {"stringValue": "x"}}]}]}]}
    partial = client.post("/v1/logs", json=body).json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "'timeUnixNano'" in partial["errorMessage"] and fragment in partial["errorMessage"]


def test_metrics_refused_time_names_time_unix_nano(client) -> None:  # noqa: ANN001
    point = {"timeUnixNano": str(time.time_ns() // 10**6), "asDouble": 1.0}
    body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "up", "gauge": {"dataPoints": [point]}}]}]}]}
    partial = client.post("/v1/metrics", json=body).json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "1" and "'timeUnixNano'" in partial["errorMessage"]
