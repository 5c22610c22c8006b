"""An alert muted by a silence or a maintenance window that is still firing when the window ends is
judged then, as Alertmanager notifies it once its silence expires: its next re-send opens (or joins) an
incident instead of folding into the muted row for ever."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents, signals

AM = API + "/ingest/alertmanager"


def test_an_alert_still_firing_after_its_maintenance_window_opens_an_incident(client) -> None:  # noqa: ANN001
    r = client.post(API + "/silences", json={"matchers": ['service="db"'], "duration_s": 3600,
                                             "kind": "maintenance"})
    sid = r.json()["id"]
    down = alert("ReplicaLag", "db", start=time.time() - 60)
    assert client.post(AM, json=am_payload([down])).json()["suppressed"] == 1
    assert client.post(AM, json=am_payload([down])).json()["incidents_opened"] == []  # still in the window
    assert client.delete(f"{API}/silences/{sid}").status_code == 200
    out = client.post(AM, json=am_payload([down])).json()
    assert len(out["incidents_opened"]) == 1, out
    inc = client.get(f"{API}/incidents/{out['incidents_opened'][0]}").json()
    assert inc["signal_count"] == 1 and inc["open_signals"] == 1 and inc["state"] == "triggered"
    [sig] = signals(client)
    assert sig["suppressed"] == "" and sig["incident_id"] == inc["id"] and sig["count"] == 3
    assert client.post(AM, json=am_payload([down])).json()["incidents_opened"] == []  # folds into it now
    resolved = alert("ReplicaLag", "db", start=time.time() - 60, status="resolved", end=time.time())
    client.post(AM, json=am_payload([resolved]))
    inc = client.get(f"{API}/incidents/{inc['id']}").json()
    assert inc["state"] == "resolved" and inc["open_signals"] == 0


def test_an_alert_resent_under_another_active_silence_stays_muted(client) -> None:  # noqa: ANN001
    first = client.post(API + "/silences", json={"matchers": ['service="db"'], "duration_s": 3600}).json()["id"]
    down = alert("ReplicaLag", "db")
    client.post(AM, json=am_payload([down]))
    second = client.post(API + "/silences", json={"matchers": ['alertname="ReplicaLag"'], "duration_s": 3600})
    client.delete(f"{API}/silences/{first}")
    out = client.post(AM, json=am_payload([down])).json()
    assert out["incidents_opened"] == [] and incidents(client) == []
    assert signals(client)[0]["suppressed"] == f"silence:{second.json()['id']}"
