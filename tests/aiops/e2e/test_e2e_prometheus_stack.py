"""End to end with Debian's Prometheus, Alertmanager and node exporter against a real opsloop server.

Stopping the node exporter makes ``up{job="node"}`` 0: Prometheus' rule fires, Alertmanager posts the
alert to opsloop's webhook, and an incident opens. Starting it again resolves the alert, Alertmanager
posts the resolution, and the incident resolves. The same outage, seen through the metrics opsloop
pulls from that Prometheus (``query_range``) with a threshold rule, opens and resolves its signal too;
and Prometheus' ``remote_write`` delivers the scraped series.
"""

from __future__ import annotations

import httpx
import pytest
from tests.aiops.e2e.conftest import get, wait_for

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(300)]

API = "/api/opsloop/v1"


def _incidents(url: str, **params) -> list[dict]:  # noqa: ANN003
    return get(url + API + "/incidents", **params)["incidents"]


def _signals(url: str, **params) -> list[dict]:  # noqa: ANN003
    return get(url + API + "/signals", limit=1000, **params)["signals"]


def test_alert_fires_opens_incident_and_resolves(prom_stack) -> None:  # noqa: ANN001
    stack, url = prom_stack
    # metrics pulled from that Prometheus, with a threshold rule on the same condition
    r = httpx.put(url + API + "/aiops/config/prometheus_queries", json=[{
        "name": "node_up", "url": stack.prometheus_url, "query": 'up{job="node"}',
        "interval_s": 1, "step_s": 1, "lookback_s": 30}])
    assert r.status_code == 200, r.text
    r = httpx.put(url + API + "/aiops/config/metric_rules", json=[{
        "name": "PulledNodeDown", "selector": 'up{job="node"}', "below": 0.5, "severity": "critical", "for_s": 2}])
    assert r.status_code == 200, r.text

    # remote_write and the pull both deliver series before anything goes wrong
    wait_for(lambda: [s for s in _signals(url, kind="metric") if s["source"] == "remote_write"
                      and s["labels"].get("__name__") == "node_load1"], 60, "remote_write series", stack)
    wait_for(lambda: [s for s in _signals(url, kind="metric") if s["source"] == "prometheus"
                      and s["labels"].get("job") == "node" and s["values"]["value"] == 1.0], 60,
             "pulled up=1", stack)
    assert _incidents(url) == []

    stack.stop_node_exporter()
    incident = wait_for(lambda: next((i for i in _incidents(url) if any(
        s["source"] == "alertmanager" for s in get(f"{url}{API}/incidents/{i['id']}")["signals"])), None),
        90, "an incident opened by Alertmanager's webhook", stack)
    assert incident["state"] == "triggered"
    assert incident["severity"] == "critical"
    detail = wait_for(lambda: (lambda d: d if {s["source"] for s in d["signals"]} >= {
        "alertmanager", "rule:PulledNodeDown"} else None)(get(f"{url}{API}/incidents/{incident['id']}")),
        60, "the pulled-metric rule signal in the same incident", stack)
    am = next(s for s in detail["signals"] if s["source"] == "alertmanager")
    assert am["labels"]["alertname"] == "NodeExporterDown"
    assert am["status"] == "firing"
    assert "generatorURL" in am["evidence"]
    assert any(e["kind"] == "opened" for e in detail["timeline"])
    assert detail["grouping_reasons"]
    assert len(_incidents(url)) == 1, "the pulled signal joined the Alertmanager incident"

    # (the rules wait 2 s: one scrape that times out on a loaded machine is no outage; two such blips and
    # the outage would make the alert flap, and a flapping incident rightly stays open for ten minutes)
    stack.start_node_exporter()
    resolved = wait_for(lambda: (lambda d: d if d["state"] == "resolved" else None)(
        get(f"{url}{API}/incidents/{incident['id']}")), 150, "the incident to resolve", stack)
    assert {s["status"] for s in resolved["signals"]} == {"resolved"}
    assert any(e["kind"] == "state" and "auto_resolve" in e["text"] for e in resolved["timeline"])
    assert resolved["resolved_at"] is not None

    # every sample went to the metric history: the pulled outage sample by sample, the written series too
    # (the latest pulled sample may still be an instant Prometheus answered before its newest scrape, or a
    # scrape that timed out on a loaded machine: the next pulls bring the node back up in the history)
    rule = next(s for s in resolved["signals"] if s["source"] == "rule:PulledNodeDown")

    def pulled() -> list[float]:
        return [v for _t, v in get(url + API + "/metrics/points", series=rule["evidence"]["series"])["points"]]

    values = wait_for(lambda: (lambda vs: vs if vs and vs[-1] == 1.0 else None)(pulled()), 60,
                      "the pulled series to end up again", stack)
    assert 0.0 in values and values[-1] == 1.0
    load = next(s for s in _signals(url, kind="metric") if s["source"] == "remote_write"
                and s["labels"].get("__name__") == "node_load1")
    wait_for(lambda: get(url + API + "/metrics/points", series=load["fingerprint"])["count"] > 1, 60,
             "a second remote-written sample of node_load1 in the history", stack)
