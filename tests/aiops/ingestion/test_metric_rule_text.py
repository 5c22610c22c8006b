"""A metric rule's ``text`` is a template of plain names (``{queue}``, ``{value:.0f}``); a field that
reaches into a value (``{queue[x]}``, ``{queue.upper}``) leaves the text as written. ``{queue[x]}`` raised
a ``TypeError`` that made every remote_write batch with a breaching sample a 500, which Prometheus
re-sends for ever: no sample of that sender was stored any more."""

from __future__ import annotations

import time

import pytest
from tests.aiops.ingestion._helpers import API, signals

from opsloop.aiops.ingestion.remote_write import encode_remote_write

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}


@pytest.mark.parametrize(("text", "shown"), [
    ("{queue[x]} backlog", "{queue[x]} backlog"),
    ("{queue.upper} backlog", "{queue.upper} backlog"),
    ("{0} backlog", "{0} backlog"),
    ("{queue} backlog is {value:.0f} {missing}", "orders backlog is 150 {missing}"),
])
def test_a_rule_text_reaching_into_a_value_stays_as_written(client, text: str, shown: str) -> None:  # noqa: ANN001
    rules = [{"name": "QueueBacklog", "selector": "queue_depth", "above": 100, "text": text}]
    assert client.put(API + "/aiops/config/metric_rules", json=rules).status_code == 200
    body = encode_remote_write([({"__name__": "queue_depth", "queue": "orders", "service": "shop"},
                                 [(time.time() - 5, 150.0)])])
    r = client.post("/api/v1/write", content=body, headers=PB)
    assert r.status_code == 204, r.text
    [sig] = signals(client, kind="metric_anomaly")
    assert sig["text"] == shown
    assert [s["values"]["value"] for s in signals(client, kind="metric")] == [150.0]
