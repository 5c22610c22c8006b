"""A server closes the firing health check of a deployment it no longer counts: fired before a restart (or
by a deployment the tracker forgot), nothing scores it now, so it could never resolve on its own."""

from __future__ import annotations

from pathlib import Path

from tests.server._monitoring import server_monitoring

from opsloop.core.signals import SignalKind
from opsloop.mlops.monitoring.health import HealthMonitor, HealthPolicy, RequestCounts
from opsloop.mlops.serving.metrics import LATENCY_BUCKETS


def test_a_firing_check_of_a_deployment_the_server_does_not_count_resolves(tmp_path: Path) -> None:
    with server_monitoring(tmp_path) as monitoring:
        earlier = HealthMonitor(monitoring.store, lambda _n: HealthPolicy(min_requests=10))  # the server before
        burst = RequestCounts(100, 50, (100,) + (0,) * len(LATENCY_BUCKETS))
        assert [s["status"] for s in earlier.observe({("fraud", "3"): burst})["signals"]] == ["firing"]

        assert monitoring.check_health(emit=False)["signals"] == []  # looking closes nothing
        [closed] = monitoring.check_health()["signals"]
        assert closed["status"] == "resolved" and closed["labels"] == {"model": "fraud", "ref": "3",
                                                                       "check": "error_rate"}
        assert closed["evidence"]["reason"] == "deployment no longer tracked"
        assert monitoring.check_health()["signals"] == []
        stored = monitoring.store.list_signals(model="fraud", kind=SignalKind.MODEL_HEALTH)
        assert [s.status for s in stored] == ["resolved", "firing"]
