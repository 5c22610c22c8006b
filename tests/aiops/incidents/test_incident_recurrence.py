"""A lone flaky alert firing again: back into its auto-resolved incident, but not into one an operator resolved."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from tests.aiops.ingestion._helpers import API, aiops_client, alert, am_payload, incidents

from opsloop.aiops.correlation import GroupingConfig

AM = API + "/ingest/alertmanager"
GAP = 1800.0  # past the 5-minute grouping window, within the recurrence window of an alert that fired once


def _fire_and_clear(client: TestClient, t: float) -> int:
    client.post(AM, json=am_payload([alert("BackupLate", "batch", start=t, instance="batch-1")]))
    [inc] = incidents(client)
    client.post(AM, json=am_payload([alert("BackupLate", "batch", start=t, end=t + 60, status="resolved",
                                           instance="batch-1")]))
    return int(inc["id"])


def _recur(client: TestClient, t: float) -> None:
    r = client.post(AM, json=am_payload([alert("BackupLate", "batch", start=t + 60 + GAP, instance="batch-1")]))
    assert r.status_code == 200, r.text


def test_the_window_is_longer_than_the_gap() -> None:
    cfg = GroupingConfig()
    assert cfg.window_s < GAP < cfg.first_recur_s - 200 <= cfg.recur_window_s


def test_an_auto_resolved_flaky_alert_rejoins_its_incident(client: TestClient) -> None:
    t = time.time() - 4000
    first = _fire_and_clear(client, t)
    assert incidents(client)[0]["state"] == "resolved"
    _recur(client, t)
    [inc] = incidents(client)
    assert inc["id"] == first and inc["state"] == "triggered" and inc["signal_count"] == 2
    detail = client.get(f"{API}/incidents/{first}").json()
    assert any("auto_reopen" in e["text"] for e in detail["timeline"] if e["kind"] == "state")


def test_an_operator_resolved_flaky_alert_opens_a_new_incident(client: TestClient) -> None:
    t = time.time() - 4000
    first = _fire_and_clear(client, t)
    assert incidents(client)[0]["state"] == "resolved"
    client.post(AM, json=am_payload([alert("BackupLate", "batch", start=t + 120, instance="batch-1")]))
    [inc] = incidents(client)
    assert inc["id"] == first and inc["state"] == "triggered", "auto-resolved: the same alert rejoins"
    r = client.post(f"{API}/incidents/{first}/resolve", json={"actor": "ann", "text": "restarted the backup job"})
    assert r.status_code == 200, r.text
    client.post(AM, json=am_payload([alert("BackupLate", "batch", start=t + 120, end=t + 180, status="resolved",
                                           instance="batch-1")]))
    _recur(client, t + 120)
    by_id = {i["id"]: i for i in incidents(client)}
    assert len(by_id) == 2 and by_id[first]["state"] == "resolved" and by_id[first]["signal_count"] == 2
    [new] = [i for i in by_id.values() if i["id"] != first]
    assert new["state"] == "triggered" and new["signal_count"] == 1
    detail = client.get(f"{API}/incidents/{new['id']}").json()
    assert detail["similar"][0]["id"] == first


def test_who_resolved_survives_a_restart(tmp_path: Path) -> None:
    t = time.time() - 4000
    with aiops_client(tmp_path / "auto") as c:
        first = _fire_and_clear(c, t)
    with aiops_client(tmp_path / "auto") as c:
        _recur(c, t)
        assert [i["id"] for i in incidents(c)] == [first]
    with aiops_client(tmp_path / "human") as c:
        first = _fire_and_clear(c, t)
        c.post(f"{API}/incidents/{first}/reopen", json={"actor": "ann"})
        c.post(f"{API}/incidents/{first}/resolve", json={"actor": "ann"})
    with aiops_client(tmp_path / "human") as c:
        _recur(c, t)
        assert sorted(i["id"] for i in incidents(c)) == [first, first + 1]
