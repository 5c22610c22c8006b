"""Alertmanager's own API (``POST /api/v2/alerts``): what Prometheus and other rulers post to an
Alertmanager. An alert fires until its ``endsAt`` unless posted again; a past ``endsAt`` resolves it."""

from __future__ import annotations

import time
from typing import Any

from tests.aiops.ingestion._helpers import aiops_client, incidents, iso, signals

URL = "/api/v2/alerts"


def posted(name: str, service: str, start: float, end: float | None, **labels: str) -> dict[str, Any]:
    """One alert as Prometheus posts it (no status: ``endsAt`` says it)."""
    alert = {"labels": {"alertname": name, "service": service, "severity": "critical", **labels},
             "annotations": {"summary": f"{name} on {service}"}, "startsAt": iso(start),
             "generatorURL": "http://prometheus.example/graph?g0.expr=up"}
    if end is not None:
        alert["endsAt"] = iso(end)
    return alert


def test_a_firing_alert_opens_an_incident_and_its_past_end_resolves_it(client) -> None:  # noqa: ANN001
    t = time.time() - 60
    r = client.post(URL, json=[posted("Down", "db", t, time.time() + 240)])
    assert r.status_code == 200, r.text
    assert r.json()["incidents_opened"]
    [sig] = signals(client, kind="alert")
    assert sig["source"] == "alertmanager_api" and sig["status"] == "firing"
    assert sig["evidence"]["expires_at"] > time.time()
    # Prometheus posts it again each resend delay, then once more with its end when it stops
    assert client.post(URL, json=[posted("Down", "db", t, time.time() + 240)]).status_code == 200
    assert signals(client)[0]["count"] == 2
    r = client.post(URL, json=[posted("Down", "db", t, time.time() - 1)])
    assert r.status_code == 200 and r.json()["resolved"] == 1
    assert incidents(client)[0]["state"] == "resolved"


def test_an_alert_not_posted_again_by_its_end_resolves_at_that_end(client) -> None:  # noqa: ANN001
    t = time.time() - 60
    end = time.time() + 30
    client.post(URL, json=[posted("Down", "db", t, end), posted("Slow", "api", t, end + 600)])
    pipeline = client.app.state.aiops
    pipeline.tick()
    assert {s["status"] for s in signals(client)} == {"firing"}
    pipeline.clock = lambda: end + 1  # the sender went quiet: Down's end passes, Slow's does not
    pipeline.tick()
    by_name = {s["labels"]["alertname"]: s for s in signals(client)}
    assert by_name["Down"]["status"] == "resolved" and abs(by_name["Down"]["resolved_at"] - end) < 1e-3
    assert by_name["Slow"]["status"] == "firing"
    assert len(pipeline.expiry) == 1


def test_an_alert_without_an_end_fires_for_the_resolve_timeout(client) -> None:  # noqa: ANN001
    before = time.time()
    client.post(URL, json=[posted("Down", "db", before - 10, None)])
    [sig] = signals(client)
    assert sig["status"] == "firing" and before + 290 < sig["evidence"]["expires_at"] < time.time() + 310


def test_a_restarted_server_still_resolves_an_alert_whose_sender_went_quiet(tmp_path) -> None:  # noqa: ANN001
    t = time.time() - 60
    with aiops_client(tmp_path) as client:
        client.post(URL, json=[posted("Down", "db", t, time.time() + 30)])
    with aiops_client(tmp_path) as client:  # the same store: the expiry is rebuilt from it
        pipeline = client.app.state.aiops
        assert len(pipeline.expiry) == 1
        pipeline.clock = lambda: time.time() + 200  # past its end, within the restart's grace (300 s)
        pipeline.tick()
        assert signals(client)[0]["status"] == "firing"
        pipeline.clock = lambda: time.time() + 301
        pipeline.tick()
        assert signals(client)[0]["status"] == "resolved"
        assert incidents(client)[0]["state"] == "resolved"


def test_bad_bodies_are_400_with_a_string_naming_what_was_refused_as_alertmanager_answers(client) -> None:  # noqa: ANN001
    """Alertmanager answers a bad request with a JSON string, which ``amtool alert add`` prints (an object
    made it fail with "cannot unmarshal object into Go value of type string"); the valid alerts are kept."""
    for body in (b"{not json", b'{"alerts": []}'):
        r = client.post(URL, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and isinstance(r.json(), str) and r.json().startswith("body: "), r.text
    t = time.time()
    r = client.post(URL, json=[posted("Down", "db", t, t + 60), "nope", {"labels": {}},
                               {**posted("Up", "db", t, None), "endsAt": "yesterday"}])
    assert r.status_code == 400
    message = r.json()
    assert message.startswith("rejected 3 of 4 items: #1: ") and "#2: " in message and "#3: " in message, message
    assert "endsAt" in message
    assert len(signals(client)) == 1


def test_the_read_side_shows_the_end_of_the_latest_post(client) -> None:  # noqa: ANN001
    """Prometheus pushes a firing alert's ``endsAt`` forward at every re-post; ``GET /api/v2/alerts``
    (``amtool alert query``, Grafana) shows the latest end, not the first post's, which would pass first."""
    t = time.time() - 60
    first, latest = time.time() + 30, time.time() + 600
    client.post(URL, json=[posted("Down", "db", t, first)])
    client.post(URL, json=[posted("Down", "db", t, latest)])
    [shown] = client.get("/api/v2/alerts").json()
    assert shown["endsAt"] == iso(latest)[:23] + "Z" and signals(client)[0]["count"] == 2
