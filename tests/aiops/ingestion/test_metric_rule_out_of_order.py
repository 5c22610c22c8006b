"""A sample older than one already seen for a series (out of order: Prometheus' out_of_order_time_window,
collectors that batch apart) does not change a threshold rule's state, as a Prometheus rule judges a
series by its latest sample: an old in-bounds sample resolved a firing alert (before it started) and
the next sample fired it again, a page per late sample."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, signals

from opsloop.aiops.ingestion.remote_write import encode_remote_write

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
LABELS = {"__name__": "queue_depth", "queue": "orders", "service": "shop"}


def _write(client, *samples: tuple[float, float]) -> None:  # noqa: ANN001
    r = client.post("/api/v1/write", content=encode_remote_write([(LABELS, list(samples))]), headers=PB)
    assert r.status_code == 204, r.text


def test_a_late_sample_does_not_resolve_a_firing_rule(client) -> None:  # noqa: ANN001
    rules = [{"name": "QueueBacklog", "selector": "queue_depth", "above": 100}]
    assert client.put(API + "/aiops/config/metric_rules", json=rules).status_code == 200
    t = time.time() - 120
    _write(client, (t, 150.0), (t + 15, 160.0))
    _write(client, (t - 30, 20.0))  # late: from before the breach
    _write(client, (t + 30, 170.0))
    [sig] = signals(client, kind="metric_anomaly")
    assert sig["status"] == "firing" and abs(sig["time"] - t) < 1e-3 and sig["count"] == 1, sig
    _write(client, (t + 45, 30.0))  # back within bounds, in order: resolved then
    [sig] = signals(client, kind="metric_anomaly")
    assert sig["status"] == "resolved" and abs(sig["resolved_at"] - (t + 45)) < 1e-3, sig
