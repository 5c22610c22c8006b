"""An incident resolved because its alerts resolved is resolved when they ended (Alertmanager's ``endsAt``),
not when the news arrived; never before it was opened, nor in the future."""

from __future__ import annotations

import time

import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents

AM = API + "/ingest/alertmanager"


def _resolve_at(client, name: str, start: float, end: float) -> dict:  # noqa: ANN001
    client.post(AM, json=am_payload([alert(name, name, start=start)]))
    client.post(AM, json=am_payload([alert(name, name, status="resolved", start=start, end=end)]))
    [inc] = [i for i in incidents(client) if i["service"] == name]
    assert inc["state"] == "resolved"
    return inc


def test_an_auto_resolved_incident_is_resolved_when_its_last_alert_ended(client) -> None:  # noqa: ANN001
    now = time.time()
    inc = _resolve_at(client, "db", now - 3600, now - 1800)
    # the alert ended half an hour ago, before the incident was opened (its firing came late): opened then
    assert inc["resolved_at"] == inc["created_at"]
    b = _resolve_at(client, "api", now + 1000, now + 3000)  # a clock ahead of ours
    assert b["resolved_at"] <= time.time()
    started = time.time()
    client.post(AM, json=am_payload([alert("Two", "web", start=started - 10), alert("One", "web", start=started - 10)]))
    ended = started + 1
    time.sleep(1.2)  # the two alerts end one second after they were posted, and are reported later still
    client.post(AM, json=am_payload([alert("One", "web", status="resolved", start=started - 10, end=ended - 0.5),
                                     alert("Two", "web", status="resolved", start=started - 10, end=ended)]))
    [web] = [i for i in incidents(client) if i["service"] == "web"]
    assert web["state"] == "resolved" and abs(web["resolved_at"] - ended) < 0.01, (web, ended)
    detail = client.get(f"{API}/incidents/{web['id']}").json()
    assert [e for e in detail["timeline"] if e["kind"] == "state"][-1]["text"].startswith("triggered → resolved")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_resolved_at_and_the_operators_severity_on_each_backend(backend: str, tmp_path, request) -> None:  # noqa: ANN001
    from opsloop.aiops.pipeline import Pipeline
    from opsloop.core.signals import Signal, SignalKind
    from opsloop.storage.sql import open_database
    from opsloop.storage.sql.incidents import AiopsStores

    url = f"sqlite:///{tmp_path / 'r.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    try:
        now = 1_800_000_000.0
        p = Pipeline(AiopsStores(db), mine_logs=False, clock=lambda: now)
        fire = Signal(time=now - 600, source="am", kind=SignalKind.ALERT, service="db", labels={"alertname": "Down"},
                      text="db down")
        p.ingest([fire], now=now - 590)
        [inc] = p.stores.incidents.list(service="db")[0]
        resolved = Signal(time=now - 600, source="am", kind=SignalKind.ALERT, service="db",
                          labels={"alertname": "Down"}, text="db down", status="resolved", evidence={"endsAt": now - 60})
        p.ingest([resolved], now=now)
        assert p.stores.incidents.get(inc["id"])["resolved_at"] == now - 60
        assert p.ops.set_severity(inc["id"], "Critical", "ann")["severity"] == "critical"
        assert [e["kind"] for e in p.stores.incidents.timeline(inc["id"])][-1] == "severity"
    finally:
        db.dispose()
