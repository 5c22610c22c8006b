"""``POST /api/v2/alerts`` treats a label with an empty value as no label, as Alertmanager's API does (its
``removeEmptyLabels``; Prometheus never sends one): the same alert posted with ``team=""`` and without it
is one alert, not two that fire and resolve apart; an alert left with no label is refused, and so is one
that ends before it starts ("start time must be before end time", Alertmanager's words)."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import iso, signals

URL = "/api/v2/alerts"


def test_an_empty_label_is_no_label(client) -> None:  # noqa: ANN001
    t = time.time() - 60
    with_empty = {"labels": {"alertname": "Down", "service": "db", "team": ""}, "startsAt": iso(t)}
    without = {"labels": {"alertname": "Down", "service": "db"}, "startsAt": iso(t)}
    assert client.post(URL, json=[with_empty]).status_code == 200
    assert client.post(URL, json=[without]).status_code == 200
    [sig] = signals(client, kind="alert")
    assert sig["labels"] == {"alertname": "Down", "service": "db"} and sig["count"] == 2
    [listed] = client.get(URL).json()
    assert listed["labels"] == {"alertname": "Down", "service": "db"}
    r = client.post(URL, json=[{**without, "endsAt": iso(time.time() - 1)}])  # resolved without the label
    assert r.status_code == 200 and r.json()["resolved"] == 1, r.text
    assert client.get(URL).json() == []


def test_an_alert_with_only_empty_labels_or_ending_before_it_starts_is_refused(client) -> None:  # noqa: ANN001
    t = time.time()
    r = client.post(URL, json=[{"labels": {"alertname": ""}, "startsAt": iso(t)},
                               {"labels": {"alertname": "Late"}, "startsAt": iso(t - 60), "endsAt": iso(t - 120)},
                               {"labels": {"alertname": "Fine"}, "startsAt": iso(t - 60)}])
    assert r.status_code == 400, r.text
    message = r.json()
    assert "#0: an alert needs labels" in message and "#1: start time must be before end time" in message, message
    assert [s["labels"]["alertname"] for s in signals(client, kind="alert")] == ["Fine"]
