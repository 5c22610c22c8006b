"""``service_rules``: a multivariate detector over each service's metrics, run on ingested points."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from tests.aiops.ingestion._helpers import API, aiops_client, incidents, signals

RULE = {"name": "svc", "selector": '{__name__=~"rps|latency_ms|errors"}', "bucket": 60,
        "detector": {"class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees", "params": {"window_size": 100}}}


def _otlp(points: dict[str, list[tuple[float, float]]]) -> dict:
    metrics = [{"name": name, "gauge": {"dataPoints": [{"timeUnixNano": str(int(t * 1e9)), "asDouble": v}
                                                       for t, v in pts]}} for name, pts in points.items()]
    return {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name",
                                                              "value": {"stringValue": "checkout"}}]},
                                 "scopeMetrics": [{"metrics": metrics}]}]}


def test_a_service_whose_metrics_stop_moving_together_opens_an_incident(tmp_path: Path) -> None:
    rng = random.Random(0)
    t0 = float(int(time.time()) - 1500 * 60)
    with aiops_client(tmp_path) as client:
        r = client.put(API + "/aiops/config/service_rules", json=[{**RULE, "bucket": "60"}])
        assert r.status_code == 400 and r.json()["field"] == "bucket", r.text
        assert client.put(API + "/aiops/config/service_rules", json=[RULE]).status_code == 200
        assert client.get(API + "/aiops/config/service_rules").json()["service_rules"] == [RULE]
        for start in range(0, 1500, 250):
            batch: dict[str, list[tuple[float, float]]] = {"rps": [], "latency_ms": [], "errors": []}
            for i in range(start, start + 250):
                load = 100 + 20 * math.sin(2 * math.pi * i / 60) + rng.gauss(0, 2)
                latency = 0.5 * load + rng.gauss(0, 1) + (60 if i >= 1400 else 0)  # latency breaks away at 1400
                t = t0 + 60 * i + 10
                batch["rps"].append((t, load))
                batch["latency_ms"].append((t, latency))
                batch["errors"].append((t, rng.random()))
            assert client.post("/v1/metrics", json=_otlp(batch)).status_code == 200
        found = [s for s in signals(client, kind="metric_anomaly") if s["source"] == "detector:multivariate"]
        assert found and all(s["time"] >= t0 + 60 * 1400 for s in found), found
        assert found[0]["service"] == "checkout" and found[0]["labels"]["rule"] == "svc"
        assert next(iter(found[0]["evidence"]["deviations"])) == "latency_ms"
        assert any(i["service"] == "checkout" for i in incidents(client))
        assert client.get(API + "/aiops/config/nope").status_code == 404
