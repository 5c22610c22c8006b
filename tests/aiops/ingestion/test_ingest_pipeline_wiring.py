"""Ingested log records feed the log template miner and ingested metric points feed the metric
detectors; the signals they raise become incidents like any alert."""

from __future__ import annotations

import random
import time

import pytest
from tests.aiops.ingestion._helpers import API, incidents, signals

from opsloop.aiops.ingestion.remote_write import encode_remote_write

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}


def _otlp(lines: list[tuple[float, str]], service: str = "billing") -> dict:
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                              "scopeLogs": [{"logRecords": [
                                  {"timeUnixNano": str(int(t * 1e9)), "severityText": "INFO",
                                   "body": {"stringValue": text}} for t, text in lines]}]}]}


def test_log_records_feed_the_miner(client) -> None:  # noqa: ANN001
    pytest.importorskip("opsloop.aiops.logs")
    t0 = time.time() - 3 * 3600
    warm = [(t0 + i * 10, f"processed invoice {i} in {i % 7} ms") for i in range(400)]
    for k in range(0, len(warm), 100):
        assert client.post("/v1/logs", json=_otlp(warm[k:k + 100])).status_code == 200
    assert incidents(client) == []
    later = t0 + 4500
    r = client.post("/v1/logs", json=_otlp([(later, "FATAL ledger checksum mismatch on shard 7 reconcile aborted"),
                                             (later + 1, "processed invoice 9 in 3 ms")]))
    assert r.status_code == 200
    anomalies = signals(client, kind="log_anomaly")
    assert anomalies, "a new template after warm-up is a log anomaly"
    assert anomalies[0]["service"] == "billing"
    assert {i["service"] for i in incidents(client)} == {"billing"}
    assert len(signals(client, kind="log")) == 402


def test_an_error_surge_of_otlp_records_is_found_by_their_severity(client) -> None:  # noqa: ANN001
    """The lines say no level of their own: the records' severityNumber is what makes them errors."""
    pytest.importorskip("opsloop.aiops.logs")
    t0 = (int(time.time()) // 300 - 30) * 300  # 2.5 h ago, on a bucket's start

    def records(t: float, n: int, severity: int) -> list[dict]:
        return [{"timeUnixNano": str(int((t + i) * 1e9)), "severityNumber": severity,
                 "body": {"stringValue": f"payment {i} declined by issuer"}} for i in range(n)]

    def post(recs: list[dict]) -> None:
        body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name",
                                                               "value": {"stringValue": "payments"}}]},
                                  "scopeLogs": [{"logRecords": recs}]}]}
        assert client.post("/v1/logs", json=body).status_code == 200

    for b in range(20):  # 20 buckets of 5 min with one error record each
        post(records(t0 + 300 * b, 1, 17) + records(t0 + 300 * b + 100, 5, 9))
    post(records(t0 + 300 * 20, 60, 17))  # 60 error records in one bucket
    post(records(t0 + 300 * 21, 1, 9))  # the next bucket: the surge's bucket is judged
    surge = [s for s in signals(client, kind="log_anomaly") if s["labels"].get("anomaly") == "error_surge"]
    assert surge and surge[0]["service"] == "payments" and surge[0]["values"]["observed"] == 60


def test_metric_points_feed_the_detectors(client) -> None:  # noqa: ANN001
    r = client.put(API + "/aiops/config/watch_rules", json=[{"name": "api-latency", "selector": 'latency{job="api"}'}])
    assert r.status_code == 200, r.text
    rnd = random.Random(0)
    t0 = time.time() - 3000
    points = [(t0 + i * 5, 100 + rnd.gauss(0, 2) + (400 if 500 <= i < 520 else 0)) for i in range(600)]
    for k in range(0, len(points), 50):
        body = encode_remote_write([({"__name__": "latency", "job": "api"}, points[k:k + 50])])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    spike = [s for s in signals(client, kind="metric_anomaly") if s["time"] >= t0 + 499 * 5]
    assert spike and spike[0]["labels"]["rule"] == "api-latency"
    inc = next(i for i in incidents(client) if i["id"] == spike[0]["incident_id"])
    assert inc["service"] == "api"
    assert client.put(API + "/aiops/config/watch_rules", json=[{"nope": 1}]).status_code == 400
    assert client.put(API + "/aiops/config/unknown_key", json=[]).status_code == 404


def test_an_incident_a_prediction_opened_resolves_when_the_danger_has_passed(client) -> None:  # noqa: ANN001
    rules = [{"name": "disk", "selector": "disk_used_ratio", "predict": {"threshold": 0.95, "horizon": 3600}}]
    assert client.put(API + "/aiops/config/watch_rules", json=rules).status_code == 200
    rnd = random.Random(5)
    t0 = time.time() - 2000 * 10
    # fills towards 0.95, then the disk is cleaned up (row 1500) and stays flat
    points = [(t0 + i * 10, (0.2 + 0.0005 * i if i < 1500 else 0.3) + rnd.gauss(0, 0.002)) for i in range(2000)]
    labels = {"__name__": "disk_used_ratio", "service": "db"}
    for k in range(0, 1500, 100):
        body = encode_remote_write([(labels, points[k:k + 100])])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    [inc] = incidents(client)
    assert inc["state"] == "triggered" and inc["service"] == "db"
    for k in range(1500, 2000, 100):
        body = encode_remote_write([(labels, points[k:k + 100])])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    [pred] = signals(client, kind="prediction")
    assert pred["status"] == "resolved" and pred["incident_id"] == inc["id"]
    after = {i["id"]: i for i in incidents(client)}  # (the clean-up's own drop is an anomaly of its own)
    assert after[inc["id"]]["state"] == "resolved"


def test_metric_rules(client) -> None:  # noqa: ANN001
    rules = [{"name": "QueueBacklog", "selector": 'queue_depth{queue=~"orders|payments"}', "above": 100,
              "for_s": 10, "severity": "error", "text": "{queue} backlog is {value}"}]
    assert client.put(API + "/aiops/config/metric_rules", json=rules).status_code == 200
    t0 = time.time() - 100
    series = [(t0 + i, v) for i, v in enumerate([50, 150, 160, 170] + [180] * 10 + [20])]
    body = encode_remote_write([({"__name__": "queue_depth", "queue": "orders", "service": "shop"}, series),
                                ({"__name__": "queue_depth", "queue": "other", "service": "shop"}, series)])
    assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    [sig] = signals(client, kind="metric_anomaly")
    assert sig["status"] == "resolved" and sig["text"] == "orders backlog is 180.0"
    assert sig["time"] == pytest.approx(t0 + 1)
    [inc] = incidents(client)
    assert inc["state"] == "resolved"
    assert client.put(API + "/aiops/config/metric_rules", json=[{"name": "x", "selector": "up"}]).status_code == 400
