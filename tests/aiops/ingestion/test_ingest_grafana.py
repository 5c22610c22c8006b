"""Grafana Alerting's webhook contact point, posted to the Alertmanager endpoint: Alertmanager's envelope
with ``"version": "1"``, an ``orgId`` and Grafana's own fields (the documented example body)."""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.aiops.ingestion._helpers import API, incidents, iso, signals

URL = API + "/ingest/alertmanager"


def grafana_body(start: float, *, status: str = "firing", end: float | None = None) -> dict[str, Any]:
    """Grafana 11's webhook body (``receiver`` … ``message``), one alert."""
    alert = {
        "status": status,
        "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1", "grafana_folder": "infra",
                   "service": "checkout"},
        "annotations": {"description": "The system has high memory usage",
                        "runbook_url": "https://myrunbook.com/runbook/1234",
                        "summary": "This alert was triggered for zone us-1"},
        "startsAt": iso(start),
        "endsAt": iso(end) if end is not None else "0001-01-01T00:00:00Z",
        "generatorURL": "https://grafana.example/alerting/grafana/1afz29v7z/view",
        "fingerprint": "c6eadffa33fcdf37",
        "silenceURL": "https://grafana.example/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2",
        "dashboardURL": "https://grafana.example/d/abc",
        "panelURL": "https://grafana.example/d/abc?viewPanel=2",
        "values": {"B": 44.23943737541908, "C": 1, "D": None, "E": "n/a"},
        "valueString": "[ var='B' labels={} value=44.23943737541908 ], [ var='C' labels={} value=1 ]",
    }
    return {
        "receiver": "opsloop", "status": status, "orgId": 1, "alerts": [alert],
        "groupLabels": {"alertname": "High memory usage"}, "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"], "externalURL": "https://grafana.example/",
        "version": "1", "groupKey": '{}/{alertname="High memory usage"}:{alertname="High memory usage"}',
        "truncatedAlerts": 0, "title": "[FIRING:1] High memory usage (blue us-1)",
        "state": "alerting" if status == "firing" else "ok", "message": "**Firing**\n\nValue: B=44.2",
    }


def test_a_grafana_alert_opens_an_incident_and_its_resolution_resolves_it(client) -> None:  # noqa: ANN001
    t = time.time() - 60
    r = client.post(URL, json=grafana_body(t))
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1 and r.json()["incidents_opened"]
    [sig] = signals(client, kind="alert")
    assert sig["source"] == "grafana" and sig["service"] == "checkout"
    assert sig["text"] == "This alert was triggered for zone us-1"
    assert sig["values"] == {"B": 44.23943737541908, "C": 1.0}  # the numbers Grafana's queries gave
    assert sig["evidence"]["dashboardURL"] == "https://grafana.example/d/abc"
    assert sig["evidence"]["panelURL"].endswith("viewPanel=2")
    assert sig["evidence"]["generatorURL"].startswith("https://grafana.example/alerting/")
    [inc] = incidents(client)
    assert inc["state"] == "triggered" and inc["service"] == "checkout"

    r = client.post(URL, json=grafana_body(t, status="resolved", end=t + 30))
    assert r.status_code == 200 and r.json()["resolved"] == 1
    assert incidents(client)[0]["state"] == "resolved"


def test_a_grafana_resend_folds_into_the_same_signal(client) -> None:  # noqa: ANN001
    t = time.time() - 60
    for _ in range(3):  # Grafana re-sends a firing group every repeat interval
        assert client.post(URL, json=grafana_body(t)).status_code == 200
    [sig] = signals(client)
    assert sig["count"] == 3


def test_versions_are_checked_per_sender(client) -> None:  # noqa: ANN001
    body = grafana_body(time.time())
    wrong = copy.deepcopy(body)
    wrong["version"] = "4"  # an orgId says Grafana, whose webhook is version 1
    r = client.post(URL, json=wrong)
    assert r.status_code == 400 and r.json()["field"] == "version" and "Grafana" in r.json()["message"]
    alertmanager = {k: v for k, v in body.items() if k != "orgId"}  # Alertmanager's own version 1 does not exist
    r = client.post(URL, json=alertmanager)
    assert r.status_code == 400 and r.json()["field"] == "version" and '"4"' in r.json()["message"]
    assert signals(client) == []


def test_grafana_values_that_are_not_numbers_are_left_out(client) -> None:  # noqa: ANN001
    body = grafana_body(time.time())
    body["alerts"][0]["values"] = {"A": float("1e308"), "B": True, "C": [1], "x" * 65: 2.0,
                                   **{f"q{i}": float(i) for i in range(40)}}
    assert client.post(URL, json=body).status_code == 200
    [sig] = signals(client)
    assert sig["values"]["A"] == 1e308 and "B" not in sig["values"] and "C" not in sig["values"]
    assert len(sig["values"]) == 32  # bounded
    body["alerts"][0]["values"] = "B=1"  # not an object: no values, the alert still counts
    body["alerts"][0]["labels"]["zone"] = "us-2"
    assert client.post(URL, json=body).status_code == 200
    assert len(signals(client)) == 2
