"""An alert muted by a silence or a maintenance window that is still firing when the window ends is
judged then, as Alertmanager notifies it once its silence expires: it opens (or joins) an incident when
the window ends or is expired, or at its next re-send, instead of staying muted for ever."""

from __future__ import annotations

import time
from pathlib import Path

from tests.aiops.ingestion._helpers import API, aiops_client, alert, am_payload, incidents, signals

AM = API + "/ingest/alertmanager"


def _mute(client, **window) -> int:  # noqa: ANN001, ANN003
    r = client.post(API + "/silences", json={"matchers": ['service="db"'], "kind": "maintenance", **window})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_an_alert_still_firing_when_its_window_is_expired_opens_an_incident(client) -> None:  # noqa: ANN001
    sid = _mute(client, duration_s=3600)
    down = alert("ReplicaLag", "db", start=time.time() - 60)
    assert client.post(AM, json=am_payload([down])).json()["suppressed"] == 1
    assert client.post(AM, json=am_payload([down])).json()["incidents_opened"] == []  # still in the window
    assert incidents(client) == []
    assert client.delete(f"{API}/silences/{sid}").status_code == 200
    [inc] = incidents(client)
    inc = client.get(f"{API}/incidents/{inc['id']}").json()
    assert inc["signal_count"] == 1 and inc["open_signals"] == 1 and inc["state"] == "triggered"
    [sig] = signals(client)
    assert sig["suppressed"] == "" and sig["incident_id"] == inc["id"] and sig["count"] == 2
    assert client.post(AM, json=am_payload([down])).json()["incidents_opened"] == []  # folds into it now
    resolved = alert("ReplicaLag", "db", start=time.time() - 60, status="resolved", end=time.time())
    client.post(AM, json=am_payload([resolved]))
    inc = client.get(f"{API}/incidents/{inc['id']}").json()
    assert inc["state"] == "resolved" and inc["open_signals"] == 0


def test_the_tick_after_a_window_ends_judges_what_it_muted(client) -> None:  # noqa: ANN001
    _mute(client, duration_s=0.5)
    client.post(AM, json=am_payload([alert("ReplicaLag", "db"), alert("Gone", "db", status="resolved")]))
    time.sleep(0.6)
    client.app.state.aiops.tick()  # the 5-second tick, without waiting for it
    [inc] = incidents(client)
    assert inc["title"].startswith("ReplicaLag") and inc["signal_count"] == 1


def test_a_muted_alert_is_judged_when_its_window_ends_after_a_restart(tmp_path: Path) -> None:
    with aiops_client(tmp_path) as c:
        sid = _mute(c, duration_s=3600)
        c.post(AM, json=am_payload([alert("ReplicaLag", "db")]))
    with aiops_client(tmp_path) as c:
        c.delete(f"{API}/silences/{sid}")
        assert [i["title"][:10] for i in incidents(c)] == ["ReplicaLag"]


def test_an_alert_resent_after_its_window_under_another_silence_stays_muted(client) -> None:  # noqa: ANN001
    first = _mute(client, duration_s=3600)
    down = alert("ReplicaLag", "db")
    client.post(AM, json=am_payload([down]))
    second = client.post(API + "/silences", json={"matchers": ['alertname="ReplicaLag"'], "duration_s": 3600})
    client.delete(f"{API}/silences/{first}")
    assert client.post(AM, json=am_payload([down])).json()["incidents_opened"] == []
    assert incidents(client) == []
    assert signals(client)[0]["suppressed"] == f"silence:{second.json()['id']}"
    client.delete(f"{API}/silences/{second.json()['id']}")
    assert len(incidents(client)) == 1


def test_a_silence_that_would_already_have_ended_is_refused(client) -> None:  # noqa: ANN001
    """Alertmanager refuses it; it was stored as expired and muted nothing, which the caller was not told."""
    now = time.time()
    for body, field in (({"matchers": 'service="db"', "starts_at": 1, "ends_at": 2}, "ends_at"),
                        ({"matchers": 'service="db"', "starts_at": now - 7200, "duration_s": 3600}, "duration_s")):
        r = client.post(API + "/silences", json=body)
        assert r.status_code == 400 and r.json()["field"] == field, r.text

    def iso(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    r = client.post("/api/v2/silences", json={"matchers": [{"name": "service", "value": "db", "isRegex": False}],
                                              "startsAt": iso(now - 7200), "endsAt": iso(now - 3600),
                                              "createdBy": "ann", "comment": "x"})
    assert r.status_code == 400, r.text
    assert client.get(API + "/silences", params={"all": "true"}).json()["silences"] == []
