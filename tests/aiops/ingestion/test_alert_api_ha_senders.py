"""Two Prometheus replicas (an HA pair, their ``replica`` label dropped by ``alert_relabel_configs`` as
Prometheus documents) post the same alert, each with its own ``startsAt``. As in Alertmanager (its alerts
merge by labels; a firing post's end is the later of the two), the alert fires while either replica
pushes its end forward: when one replica dies, its end passing must not resolve the alert the other
still posts (which then re-opened an incident and paged at its next post)."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import incidents, iso, signals

URL = "/api/v2/alerts"


def _post(client, start: float, end: float) -> None:  # noqa: ANN001
    r = client.post(URL, json=[{"labels": {"alertname": "Down", "service": "db", "severity": "critical"},
                                "startsAt": iso(start), "endsAt": iso(end)}])
    assert r.status_code == 200, r.text


def test_an_alert_posted_by_two_replicas_fires_while_one_of_them_posts_it(client) -> None:  # noqa: ANN001
    now = time.time()
    _post(client, now - 62, now + 30)  # replica a, which dies after this post
    _post(client, now - 60, now + 600)  # replica b, alive
    pipeline = client.app.state.aiops
    pipeline.clock = lambda: now + 31  # replica a's end passes
    pipeline.tick()
    [sig] = signals(client, kind="alert")
    assert sig["status"] == "firing", sig
    [inc] = incidents(client)
    assert inc["state"] != "resolved", inc
    [listed] = client.get(URL).json()
    assert listed["endsAt"][:19] == iso(now + 600)[:19]  # the later end
    pipeline.clock = lambda: now + 601  # replica b dies too: the alert resolves at the later end
    pipeline.tick()
    [sig] = signals(client, kind="alert")
    assert sig["status"] == "resolved" and abs(sig["resolved_at"] - (now + 600)) < 1.0, sig
