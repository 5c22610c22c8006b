"""End to end: Debian's Prometheus with opsloop as its Alertmanager (``alerting.alertmanagers`` pointing
at opsloop; no Alertmanager runs). Stopping the node exporter fires Prometheus' rule, which Prometheus
posts to ``/api/v2/alerts`` every resend delay; an incident opens. Starting it again ends the alert:
Prometheus posts it with its ``endsAt`` and the incident resolves.
"""

from __future__ import annotations

import pytest
from tests.aiops.e2e.conftest import get, wait_for

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(300)]

API = "/api/opsloop/v1"


def test_prometheus_posts_its_alerts_straight_to_opsloop(prom_direct) -> None:  # noqa: ANN001
    stack, url = prom_direct
    assert "am" not in stack.procs

    def incident() -> dict | None:
        for inc in get(url + API + "/incidents")["incidents"]:
            detail = get(f"{url}{API}/incidents/{inc['id']}")
            if any(s["source"] == "alertmanager_api" for s in detail["signals"]):
                return detail
        return None

    stack.stop_node_exporter()
    opened = wait_for(incident, 90, "an incident opened by Prometheus' own alert", stack)
    assert opened["state"] == "triggered" and opened["severity"] == "critical"
    [alert] = [s for s in opened["signals"] if s["source"] == "alertmanager_api"]
    assert alert["labels"]["alertname"] == "NodeExporterDown" and alert["service"] == "node-exporter"
    assert alert["status"] == "firing" and alert["evidence"]["generatorURL"]
    assert alert["evidence"]["expires_at"] > alert["time"]  # Prometheus sets an end a few intervals ahead
    # re-posted every resend delay: one signal whose count grows, not one per post
    wait_for(lambda: (lambda d: d if [s["count"] for s in d["signals"] if s["source"] == "alertmanager_api"][0] > 2
                      else None)(get(f"{url}{API}/incidents/{opened['id']}")), 60, "the re-posts folded", stack)

    stack.start_node_exporter()
    resolved = wait_for(lambda: (lambda d: d if d["state"] == "resolved" else None)(
        get(f"{url}{API}/incidents/{opened['id']}")), 150, "the incident to resolve", stack)
    [alert] = [s for s in resolved["signals"] if s["source"] == "alertmanager_api"]
    assert alert["status"] == "resolved" and not alert["evidence"].get("expired")  # Prometheus said so itself
