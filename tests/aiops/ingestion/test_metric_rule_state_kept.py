"""A threshold rule firing keeps firing across a change of the rules and a restart, and resolves when its
series comes back within bounds; a rule removed while firing resolves its alerts. The state was lost on
every metric_rules change and at every restart: the firing alert never resolved."""

from __future__ import annotations

import time
from pathlib import Path

from tests.aiops.ingestion._helpers import API, aiops_client, signals

from opsloop.aiops.ingestion.remote_write import encode_remote_write

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
LABELS = {"__name__": "queue_depth", "queue": "orders", "service": "shop"}
RULE = {"name": "QueueBacklog", "selector": "queue_depth", "above": 100}
OTHER = {"name": "DiskFull", "selector": "disk_used", "above": 0.9}


def _write(client, *samples: tuple[float, float]) -> None:  # noqa: ANN001
    r = client.post("/api/v1/write", content=encode_remote_write([(LABELS, list(samples))]), headers=PB)
    assert r.status_code == 204, r.text


def _rules(client, rules: list[dict]) -> None:  # noqa: ANN001
    assert client.put(API + "/aiops/config/metric_rules", json=rules).status_code == 200


def _status(client) -> list[str]:  # noqa: ANN001
    return [s["status"] for s in signals(client, kind="metric_anomaly")]


def test_a_firing_rule_resolves_after_the_rules_change(client) -> None:  # noqa: ANN001
    _rules(client, [RULE])
    t = time.time() - 120
    _write(client, (t, 150.0))
    assert _status(client) == ["firing"]
    _rules(client, [RULE, OTHER])  # another rule added
    _write(client, (t + 30, 20.0))  # back within bounds: the rule knew it was firing
    assert _status(client) == ["resolved"]


def test_a_firing_rule_resolves_after_a_restart(tmp_path: Path) -> None:
    t = time.time() - 120
    with aiops_client(tmp_path) as client:
        _rules(client, [RULE])
        _write(client, (t, 150.0))
        assert _status(client) == ["firing"]
    with aiops_client(tmp_path) as client:
        _write(client, (t + 30, 20.0))  # back within bounds after the restart
        assert _status(client) == ["resolved"]
        _write(client, (t + 45, 170.0), (t + 60, 180.0))  # a new breach is a new episode, fired once
        assert sorted(_status(client)) == ["firing", "resolved"]


def test_a_rule_removed_while_firing_resolves_its_alerts(client) -> None:  # noqa: ANN001
    _rules(client, [RULE])
    _write(client, (time.time() - 60, 150.0))
    assert _status(client) == ["firing"]
    _rules(client, [OTHER])
    assert _status(client) == ["resolved"]
