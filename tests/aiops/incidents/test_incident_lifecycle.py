"""Incident lifecycle: the transition table, operator actions, timeline, audit trail, list filters."""

from __future__ import annotations

import time

import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents

from opsloop.aiops.incidents.lifecycle import ACTIONS, STATES, allowed, transition
from opsloop.errors import InvalidInputError, InvalidStateError

AM = API + "/ingest/alertmanager"


def test_transition_table() -> None:
    assert transition("triggered", "ack").after == "acknowledged"
    assert transition("acknowledged", "resolve").after == "resolved"
    assert transition("resolved", "reopen").after == "triggered"
    assert transition("resolved", "auto_reopen").event == "reopened"
    assert transition("acknowledged", "unack").after == "triggered"
    for state in STATES:
        for action in ACTIONS:
            try:
                tr = transition(state, action)
            except InvalidStateError:
                continue
            assert tr.after in STATES
    with pytest.raises(InvalidStateError):
        transition("resolved", "ack")
    with pytest.raises(InvalidInputError):
        transition("triggered", "explode")
    assert allowed("triggered") == ["ack", "resolve"]
    assert allowed("resolved") == ["reopen"]


def _open(client, service: str = "db", name: str = "Down", **kw) -> dict:  # noqa: ANN001, ANN003
    client.post(AM, json=am_payload([alert(name, service, **kw)]))
    return next(i for i in incidents(client) if i["service"] == service)


def test_operator_lifecycle_timeline_and_audit(client) -> None:  # noqa: ANN001
    inc = _open(client)
    iid = inc["id"]
    r = client.post(f"{API}/incidents/{iid}/ack", json={"actor": "ann", "text": "looking"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acknowledged_at"]
    assert client.post(f"{API}/incidents/{iid}/ack", json={"actor": "ann"}).status_code == 400
    r = client.post(f"{API}/incidents/{iid}/assign", json={"assignee": "bob", "actor": "ann"})
    assert r.json()["assignee"] == "bob"
    r = client.post(f"{API}/incidents/{iid}/comment", json={"actor": "bob", "text": "primary is out of disk"})
    assert r.status_code == 200
    assert client.post(f"{API}/incidents/{iid}/comment", json={"actor": "bob", "text": " "}).status_code == 400
    r = client.post(f"{API}/incidents/{iid}/resolve", json={"actor": "bob", "text": "grew the volume"})
    assert r.json()["state"] == "resolved" and r.json()["resolution"] == "grew the volume"
    r = client.post(f"{API}/incidents/{iid}/reopen", headers={"X-Opsloop-User": "carol"})
    assert r.json()["state"] == "triggered" and r.json()["resolved_at"] is None
    assert r.json()["resolution"] == "", "the note described the last resolution; the timeline keeps it"
    client.post(f"{API}/incidents/{iid}/resolve", json={"actor": "bob"})
    r = client.post(f"{API}/incidents/{iid}/comment", json={"actor": "bob", "text": "failed over this time"})
    assert r.json()["resolution"] == "failed over this time", "a comment after a resolution without a note is the note"
    client.post(f"{API}/incidents/{iid}/reopen", headers={"X-Opsloop-User": "carol"})
    detail = client.get(f"{API}/incidents/{iid}").json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("state") == 5 and "comment" in kinds and "assign" in kinds and "signal" in kinds
    assert [e["actor"] for e in detail["timeline"] if e["kind"] == "state"] == ["ann", "bob", "carol", "bob", "carol"]
    assert any(e["text"].endswith(": grew the volume") for e in detail["timeline"] if e["kind"] == "state")
    assert all(set(e) == {"time", "kind", "text", "actor", "data"} for e in detail["timeline"])
    times = [e["time"] for e in detail["timeline"]]
    assert times == sorted(times)
    audit = client.get(f"{API}/incidents/{iid}/audit").json()["audit"]
    assert [a["action"] for a in audit] == ["reopen", "comment", "resolve", "reopen", "resolve", "comment", "assign", "ack"]
    assert client.get(f"{API}/incidents/999").status_code == 404
    assert client.post(f"{API}/incidents/999/ack", json={}).status_code == 404


def test_api_shapes(client) -> None:  # noqa: ANN001
    inc = _open(client)
    assert set(inc) >= {"id", "title", "state", "severity", "service", "services", "labels", "assignee",
                        "signal_count", "created_at", "updated_at", "acknowledged_at", "resolved_at"}
    assert isinstance(inc["created_at"], float)
    detail = client.get(f"{API}/incidents/{inc['id']}").json()
    assert {"timeline", "signals", "similar", "grouping_reasons"} <= set(detail)
    sig = detail["signals"][0]
    assert {"id", "time", "source", "kind", "service", "labels", "severity", "text", "values", "status",
            "evidence", "fingerprint"} <= set(sig)


def test_list_filters(client) -> None:  # noqa: ANN001
    t = time.time()
    _open(client, "db", "DiskFull", start=t, severity="critical")
    _open(client, "web", "Slow", start=t + 1000, severity="warning")
    web = next(i for i in incidents(client) if i["service"] == "web")
    client.post(f"{API}/incidents/{web['id']}/ack", json={})
    assert [i["service"] for i in incidents(client, state="acknowledged")] == ["web"]
    assert [i["service"] for i in incidents(client, state="triggered,acknowledged")] == ["web", "db"]
    assert [i["service"] for i in incidents(client, severity="critical")] == ["db"]
    assert [i["service"] for i in incidents(client, service="web")] == ["web"]
    assert [i["service"] for i in incidents(client, q="diskfull")] == ["db"]
    r = client.get(API + "/incidents", params={"limit": 1, "offset": 1})
    assert r.json()["total"] == 2 and len(r.json()["incidents"]) == 1
    assert client.get(API + "/incidents", params={"limit": 0}).status_code == 422


def test_auto_reopen_when_alert_returns(client) -> None:  # noqa: ANN001
    t = time.time() - 100
    inc = _open(client, start=t)
    client.post(AM, json=am_payload([alert("Down", "db", start=t, status="resolved", end=t + 10)]))
    assert incidents(client)[0]["state"] == "resolved"
    client.post(AM, json=am_payload([alert("Down", "db", start=t + 30)]))
    [again] = incidents(client)
    assert again["id"] == inc["id"] and again["state"] == "triggered" and again["signal_count"] == 2
    detail = client.get(f"{API}/incidents/{inc['id']}").json()
    assert any("auto_reopen" in e["text"] for e in detail["timeline"] if e["kind"] == "state")


def test_state_survives_restart(tmp_path) -> None:  # noqa: ANN001
    from tests.aiops.ingestion._helpers import aiops_client

    t = time.time()
    with aiops_client(tmp_path) as c:
        c.put(API + "/topology", json={"services": {"api": ["db"]}})
        c.post(AM, json=am_payload([alert("Down", "db", start=t)]))
    with aiops_client(tmp_path) as c:
        c.post(AM, json=am_payload([alert("Errors", "api", start=t + 10)]))
        [inc] = incidents(c)
        assert inc["services"] == ["db", "api"]
        c.post(AM, json=am_payload([alert("Down", "db", start=t, status="resolved"),
                                    alert("Errors", "api", start=t + 10, status="resolved")]))
        assert incidents(c)[0]["state"] == "resolved"


def test_the_timeline_shows_what_a_signal_said_when_it_fired_after_it_resolved(client) -> None:  # noqa: ANN001
    """A drift or an alert whose resolve says something else ("back in line") keeps its firing text and
    values: the timeline's entry at the firing time shows the firing, not the later resolve."""
    start = time.time()
    firing = alert("DiskFull", "db", start=start)
    firing["annotations"] = {"summary": "disk 97% full", "value": "97"}
    client.post(AM, json=am_payload([firing]))
    iid = next(i for i in incidents(client) if i["service"] == "db")["id"]
    resolved = {**alert("DiskFull", "db", status="resolved", start=start, end=start + 120),
                "annotations": {"summary": "disk back to 40%", "value": "40"}}
    client.post(AM, json=am_payload([resolved]))
    detail = client.get(f"{API}/incidents/{iid}").json()
    [sig] = detail["signals"]
    assert sig["status"] == "resolved" and sig["text"] == "disk 97% full" and sig["values"] == {"value": 97.0}
    entries = {e["kind"]: e for e in detail["timeline"] if e["kind"].startswith("signal")}
    assert entries["signal"]["text"].endswith("db: disk 97% full")
    assert entries["signal_resolved"]["time"] == start + 120


def test_an_incidents_audit_trail_pages_without_repeating(client) -> None:  # noqa: ANN001
    """``offset`` pages the incident's audit trail as it pages ``/audit`` (it was ignored: every page was
    the first one again)."""
    client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")]))
    [inc] = incidents(client)
    for n in range(5):
        client.post(f"{API}/incidents/{inc['id']}/comment", json={"actor": "ann", "text": f"note {n}"})
    pages = [client.get(f"{API}/incidents/{inc['id']}/audit", params={"limit": 2, "offset": o}).json()["audit"]
             for o in (0, 2, 4)]
    texts = [a["data"]["text"] for page in pages for a in page]
    assert texts == [f"note {n}" for n in (4, 3, 2, 1, 0)]


def test_the_audit_trail_of_an_incident_that_does_not_exist_is_a_404(client) -> None:  # noqa: ANN001
    r = client.get(f"{API}/incidents/4242/audit")
    assert r.status_code == 404 and r.json()["field"] == "id", r.text


def test_an_actor_named_in_utf8_in_the_user_header_is_recorded_as_written(client) -> None:  # noqa: ANN001
    """A proxy sets ``X-Opsloop-User: José Ñúñez`` in UTF-8 (HTTP headers carry bytes): the timeline and the
    audit say José Ñúñez, not its bytes read as Latin-1 (JosÃ© Ã\\x91ÃºÃ±ez)."""
    client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")]))
    [inc] = incidents(client)
    name = "José Ñúñez 山田"
    r = client.post(f"{API}/incidents/{inc['id']}/ack", headers={"X-Opsloop-User": name.encode()})
    assert r.status_code == 200, r.text
    [entry] = [a for a in client.get(f"{API}/incidents/{inc['id']}/audit").json()["audit"] if a["action"] == "ack"]
    assert entry["actor"] == name
    latin = client.post(f"{API}/incidents/{inc['id']}/unack", headers={"X-Opsloop-User": "Zoë".encode("latin-1")})
    assert latin.status_code == 200 and client.get(f"{API}/incidents/{inc['id']}/audit").json()["audit"][0]["actor"] == "Zoë"
