"""Alertmanager webhook: firing and resolved alerts, folding of re-sends, bad payloads."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents, signals

URL = API + "/ingest/alertmanager"


def test_firing_then_resolved_opens_and_resolves_incident(client) -> None:  # noqa: ANN001
    t = time.time() - 30
    r = client.post(URL, json=am_payload([alert("Down", "db", start=t)]))
    assert r.status_code == 200, r.text
    assert r.json()["incidents_opened"]
    [inc] = incidents(client)
    assert inc["state"] == "triggered" and inc["severity"] == "critical" and inc["service"] == "db"
    assert inc["signal_count"] == 1
    r = client.post(URL, json=am_payload([alert("Down", "db", start=t, status="resolved", end=t + 20)]))
    assert r.status_code == 200 and r.json()["resolved"] == 1
    [inc] = incidents(client)
    assert inc["state"] == "resolved"
    [sig] = signals(client, kind="alert")
    assert sig["status"] == "resolved" and abs(sig["resolved_at"] - (t + 20)) < 1e-3


def test_resent_alert_folds_into_one_signal(client) -> None:  # noqa: ANN001
    t = time.time() - 30
    for _ in range(3):
        assert client.post(URL, json=am_payload([alert("Down", "db", start=t)])).status_code == 200
    [sig] = signals(client)
    assert sig["count"] == 3
    assert incidents(client)[0]["signal_count"] == 1


def test_same_payload_twice_in_one_batch_folds(client) -> None:  # noqa: ANN001
    t = time.time()
    r = client.post(URL, json=am_payload([alert("Down", "db", start=t), alert("Down", "db", start=t)]))
    assert r.json()["stored"] == 1 and r.json()["folded"] == 1
    assert len(signals(client)) == 1


def test_unknown_fields_are_ignored(client) -> None:  # noqa: ANN001
    body = am_payload([{**alert("Down", "db"), "someFutureField": {"x": 1}}])
    body["anotherNewField"] = [1, 2]
    assert client.post(URL, json=body).status_code == 200
    assert len(signals(client)) == 1


def test_malformed_payloads_are_400(client) -> None:  # noqa: ANN001
    cases = [
        (b"{not json", "malformed JSON"),
        (b"[]", "JSON object"),
        (b'{"version": "3", "alerts": []}', "version"),
        (b'{"version": "4", "alerts": {"a": 1}}', "alerts"),
    ]
    for body, text in cases:
        r = client.post(URL, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, body
        assert text in r.json()["message"]
    assert signals(client) == []


def test_bad_alerts_refused_valid_ones_kept(client) -> None:  # noqa: ANN001
    now = time.time()
    good = alert("Down", "db", start=now)
    future = alert("Down", "api", start=now + 30 * 86400)
    huge = alert("Down", "web", start=now, blob="x" * 100_000)
    no_labels = {**alert("Down", "x"), "labels": {}}
    bad_status = {**alert("Down", "y"), "status": "exploded"}
    r = client.post(URL, json=am_payload([good, future, huge, no_labels, bad_status]))
    assert r.status_code == 400
    body = r.json()
    assert body["accepted"] == 1 and [x["index"] for x in body["rejected"]] == [1, 2, 3, 4]
    assert "future" in body["rejected"][0]["reason"]
    assert "longer than" in body["rejected"][1]["reason"]
    [sig] = signals(client)
    assert sig["service"] == "db"


def test_too_many_labels_refused(client) -> None:  # noqa: ANN001
    labels = {f"l{i}": "v" for i in range(100)}
    r = client.post(URL, json=am_payload([alert("Down", "db", **labels)]))
    assert r.status_code == 400 and "exceed the limit" in r.json()["rejected"][0]["reason"]


def test_body_over_limit_is_refused(tmp_path) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from opsloop.server.app import create_app
    from opsloop.settings import load_settings

    s = load_settings({"storage": {"data_dir": str(tmp_path)}, "server": {"max_body_bytes": 2048}}, environ={})
    with TestClient(create_app(s)) as c:
        r = c.post(URL, json=am_payload([alert("Down", "db", note="y" * 4000)]))
        assert r.status_code == 400 and "exceeds" in r.json()["message"]


def test_a_value_annotation_that_is_not_a_finite_number_is_not_a_value(client) -> None:  # noqa: ANN001
    """Prometheus writes `{{ $value }}` of a ratio over zero traffic as NaN or +Inf: the alert is kept, its
    text value is evidence, and ``values`` holds numbers only (NaN was stored as null)."""
    alerts = []
    for name, value in (("Ratio", "NaN"), ("Rate", "+Inf"), ("Errors", "0.25")):
        a = alert(name, "api")
        a["annotations"]["value"] = value
        alerts.append(a)
    assert client.post(URL, json=am_payload(alerts)).status_code == 200
    rows = {s["labels"]["alertname"]: s for s in signals(client)}
    assert {name: s["values"] for name, s in rows.items()} == {"Ratio": {}, "Rate": {}, "Errors": {"value": 0.25}}
    assert rows["Ratio"]["evidence"]["annotations"]["value"] == "NaN"
