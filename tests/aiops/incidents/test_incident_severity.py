"""An operator sets an incident's severity (REST and ``opsloop incidents severity``): audited, on the
timeline, and raised it tells the targets that route it only now, as an escalation by an alert does."""

from __future__ import annotations

import json
import time

import httpx
from tests.aiops.incidents.test_incident_cli import run
from tests.aiops.incidents.test_incident_notifications import AM, Receiver, wait
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents
from tests.conftest import free_port


def test_raising_the_severity_is_audited_on_the_timeline_and_pages_the_critical_target(client) -> None:  # noqa: ANN001
    rx = Receiver(free_port())
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "pager", "url": f"http://127.0.0.1:{rx.port}/pager", "min_severity": "critical"}])
        client.post(AM, json=am_payload([alert("Slow", "db", severity="warning")]))
        [inc] = incidents(client)
        assert inc["severity"] == "warning"
        r = client.post(f"{API}/incidents/{inc['id']}/severity", json={"severity": "CRIT", "actor": "ann"})
        assert r.status_code == 200, r.text
        assert r.json()["severity"] == "critical"
        wait(lambda: rx.bodies)
        assert [(p, b["event"], b["incident"]["severity"]) for p, b in rx.bodies] == [("/pager", "opened", "critical")]
        detail = client.get(f"{API}/incidents/{inc['id']}").json()
        [entry] = [e for e in detail["timeline"] if e["kind"] == "severity"]
        assert entry["actor"] == "ann" and entry["text"] == "severity warning → critical"
        [audit] = [a for a in client.get(f"{API}/incidents/{inc['id']}/audit").json()["audit"]
                   if a["action"] == "severity"]
        assert audit["actor"] == "ann" and audit["data"] == {"from": "warning", "to": "critical"}
        for bad in ({"severity": "urgentish"}, {"severity": ""}, {}, {"severity": 4}):
            r = client.post(f"{API}/incidents/{inc['id']}/severity", json=bad)
            assert r.status_code in (400, 422) and "severity" in r.text, r.text
        assert client.post(f"{API}/incidents/999/severity", json={"severity": "info"}).status_code == 404
        assert incidents(client)[0]["severity"] == "critical"  # nothing refused changed it
    finally:
        rx.close()


def test_the_cli_sets_the_severity_and_says_what_is_wrong_without_a_traceback(server) -> None:  # noqa: ANN001
    httpx.post(server.url + AM, json=am_payload([alert("Slow", "db", severity="warning")])).raise_for_status()
    [inc] = httpx.get(server.url + API + "/incidents").json()["incidents"]
    out = run(server.url, "severity", str(inc["id"]), "error", "--actor", "ann")
    assert out.returncode == 0 and out.stdout.startswith(f"#{inc['id']} triggered error:"), out
    assert json.loads(run(server.url, "severity", str(inc["id"]), "p1", "--json").stdout)[0]["severity"] == "critical"
    bad = run(server.url, "severity", str(inc["id"]), "urgentish")
    assert bad.returncode == 1 and "severity" in bad.stderr and "Traceback" not in bad.stderr, bad


def test_the_cli_takes_back_an_acknowledgement(server) -> None:  # noqa: ANN001
    httpx.post(server.url + AM, json=am_payload([alert("Down", "db")])).raise_for_status()
    [inc] = httpx.get(server.url + API + "/incidents").json()["incidents"]
    assert run(server.url, "ack", str(inc["id"])).returncode == 0
    out = run(server.url, "unack", str(inc["id"]), "--actor", "ann")
    assert out.returncode == 0 and out.stdout.startswith(f"#{inc['id']} triggered"), out
    again = run(server.url, "unack", str(inc["id"]))
    assert again.returncode == 1 and "cannot unack" in again.stderr and "Traceback" not in again.stderr, again


def test_show_says_when_an_incident_was_resolved(server) -> None:  # noqa: ANN001
    t0 = time.time() - 600
    httpx.post(server.url + AM, json=am_payload([alert("Down", "db", start=t0)])).raise_for_status()
    [inc] = httpx.get(server.url + API + "/incidents").json()["incidents"]
    assert "resolved:" not in run(server.url, "show", str(inc["id"])).stdout.splitlines()[1]
    httpx.post(server.url + AM, json=am_payload([alert("Down", "db", status="resolved", start=t0, end=time.time())]))
    resolved_at = httpx.get(f"{server.url}{API}/incidents/{inc['id']}").json()["resolved_at"]
    header = run(server.url, "show", str(inc["id"])).stdout.splitlines()[1]
    assert f"resolved: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(resolved_at))}" in header, header


def test_a_merge_keeps_the_severity_an_operator_raised(client) -> None:  # noqa: ANN001
    now = time.time()
    client.post(AM, json=am_payload([alert("Slow", "db", severity="warning", start=now)]))
    client.post(AM, json=am_payload([alert("Slow", "api", severity="warning", start=now + 2000)]))
    by_service = {i["service"]: i["id"] for i in incidents(client)}
    for service, level in (("db", "error"), ("api", "critical")):  # raised by hand: the target, then a source
        r = client.post(f"{API}/incidents/{by_service[service]}/severity", json={"severity": level})
        assert r.status_code == 200, r.text
    r = client.post(f"{API}/incidents/merge", json={"target_id": by_service["db"], "source_ids": [by_service["api"]]})
    assert r.status_code == 200 and r.json()["severity"] == "critical", r.text
