"""Probable root causes: the ranking's evidence, and the ranking in the incident API and the CLI."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx
from tests.aiops.ingestion._helpers import API, alert, am_payload
from tests.conftest import OPSLOOP_BIN

from opsloop.aiops.correlation.topology import Topology
from opsloop.aiops.incidents.rootcause import RootCauseConfig, rank_root_causes

T0 = 1_700_000_000.0


def topo(*edges: tuple[str, str]) -> Topology:
    t = Topology()
    t.set_declared(edges)
    return t


SHOP = topo(("web", "api"), ("api", "db"), ("api", "cache"), ("worker", "db"))


def sig(service: str, dt: float, kind: str = "alert", *, sid: int = 0, text: str = "", count: int = 1
        ) -> dict[str, Any]:
    return {"id": sid, "service": service, "time": T0 + dt, "kind": kind, "text": text, "count": count}


def ranked(signals: list[dict[str, Any]], topology: Topology = SHOP, changes: list[dict[str, Any]] | None = None,
           **cfg: Any) -> list[str]:
    return [c.service for c in rank_root_causes(signals, topology, changes or [], RootCauseConfig(**cfg))]


def test_the_service_the_others_depend_on_ranks_first_with_its_reasons() -> None:
    signals = [sig("db", 0, sid=1), sig("api", 40, sid=2), sig("web", 90, sid=3), sig("worker", 50, sid=4)]
    causes = rank_root_causes(signals, SHOP)
    assert [c.service for c in causes] == ["db", "api", "worker", "web"]
    db = causes[0]
    assert db.signal_id == 1 and db.first_signal_at == T0 and db.signals == 1
    assert db.reasons[0].startswith("3 of the 3 other alerting services depend on it")
    assert "first to alert" in db.reasons
    assert any("a symptom?" in r for r in causes[1].reasons)  # api depends on db, alerting before it
    # each piece of evidence, summed: db explains all three and came first; api explains web (1 of 3),
    # is explained by db and came second of four; worker came third and is explained by db; web last
    assert [round(c.score, 6) for c in causes] == [3.0 + 1.5, 1.0 - 2.0 + 1.0, -2.0 + 0.5, -2.0]


def test_more_alerts_on_a_symptom_do_not_make_it_the_cause() -> None:
    signals = [sig("db", 0), sig("api", 30, count=40), sig("web", 45, count=25)]
    assert ranked(signals)[0] == "db"


def test_without_a_topology_the_first_to_alert_ranks_first() -> None:
    signals = [sig("api", 30), sig("db", 0), sig("web", 60)]
    assert ranked(signals, Topology()) == ["db", "api", "web"]


def test_a_dependency_alerting_within_the_tolerance_still_marks_a_symptom() -> None:
    # api alerted 10 s before db (scrape and rule intervals jitter): still db's symptom
    signals = [sig("api", 0), sig("db", 10)]
    api = {c.service: c for c in rank_root_causes(signals, SHOP)}["api"]
    assert any("a symptom?" in r for r in api.reasons) and api.score == -2.0 + 1.5
    strict = {c.service: c for c in rank_root_causes(signals, SHOP, config=RootCauseConfig(tolerance_s=0.0))}
    assert not any("a symptom?" in r for r in strict["api"].reasons) and strict["api"].score == 1.5


def test_a_root_whose_own_alert_comes_late_still_ranks_first() -> None:
    # db's "down" rule waits minutes; its callers' symptoms fire first: the topology still points at db
    signals = [sig("web", 0, sid=1), sig("api", 10, sid=2), sig("worker", 20, sid=3), sig("db", 150, sid=4)]
    causes = rank_root_causes(signals, SHOP)
    assert causes[0].service == "db"
    assert causes[0].reasons[0] == ("3 of the 3 other alerting services depend on it (api, web, worker); "
                                    "3 of them alerted before it: its own alert may come late")
    # api explains web only, and came second of four
    assert round(causes[1].score, 6) == round(3.0 * 1 / 3 + 1.5 * 2 / 3, 6) and causes[1].service == "api"


def test_a_recent_change_is_evidence_and_a_changed_dependency_is_a_candidate() -> None:
    # two independent services alert together: the one deployed just before ranks first
    signals = [sig("worker", 0), sig("cache", 5)]
    assert ranked(signals)[0] == "worker"
    deploy = sig("cache", -120, "event", sid=9, text="deployed cache 2.1")
    causes = rank_root_causes(signals, SHOP, [deploy])
    assert causes[0].service == "cache" and causes[0].change_id == 9
    assert any(r.startswith("changed 2 min before it alerted: deployed cache 2.1") for r in causes[0].reasons)
    # a change older than the lookback says nothing
    assert ranked(signals, changes=[sig("cache", -7200, "event")])[0] == "worker"
    # db did not alert, but was changed, and both alerting services sit on it
    changed = ranked([sig("api", 0), sig("worker", 20)], changes=[sig("db", -300, "event", text="config change")])
    assert changed[0] == "db"
    # a change to a service nothing alerting depends on is no candidate
    assert "web" not in ranked([sig("db", 0), sig("worker", 20)], changes=[sig("web", -60, "event")])


def test_context_only_or_empty_incidents_have_no_cause_and_the_limit_holds() -> None:
    assert ranked([]) == []
    assert ranked([sig("api", 0, "event")]) == []
    many = [sig(f"svc-{i}", i) for i in range(9)]
    assert ranked(many, Topology(), limit=3) == ["svc-0", "svc-1", "svc-2"]
    # ties are broken by when a service alerted, then by name, never by input order
    assert ranked([sig("b", 0), sig("a", 0)], Topology()) == ranked([sig("a", 0), sig("b", 0)], Topology()) == ["a", "b"]


def test_the_incident_api_and_cli_show_the_ranking(server) -> None:  # noqa: ANN001
    url = server.url
    httpx.put(url + API + "/topology", json={"services": {"web": ["api"], "api": ["db"]}}).raise_for_status()
    t = time.time()
    httpx.post(url + API + "/events", json={"time": t - 600, "service": "db", "text": "migrated db schema v42",
                                            "labels": {"type": "deploy"}}).raise_for_status()
    httpx.post(url + API + "/ingest/alertmanager", json=am_payload([
        alert("HighLatency", "web", start=t, severity="warning"),
        alert("Errors", "api", start=t + 5, severity="warning"),
        alert("SlowQueries", "db", start=t + 20, severity="warning"),
    ])).raise_for_status()
    incidents = httpx.get(url + API + "/incidents").json()["incidents"]
    assert len(incidents) == 1
    detail = httpx.get(f"{url}{API}/incidents/{incidents[0]['id']}").json()
    causes = detail["root_causes"]
    assert [c["service"] for c in causes] == ["db", "api", "web"]
    assert any("migrated db schema v42" in r for r in causes[0]["reasons"]) and causes[0]["change_id"]
    assert causes[0]["signal_id"] in {s["id"] for s in detail["signals"]}
    shown = subprocess.run([OPSLOOP_BIN, "incidents", "--url", url, "show", str(incidents[0]["id"])],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    table = shown.stdout.split("probable root causes", 1)[1]
    assert table.index("db") < table.index("api") < table.index("web")


def test_a_silent_service_most_alerting_services_depend_on_ranks_second_with_its_reason() -> None:
    # api and worker both depend on db, which has no alert here (its own rule waits longer)
    causes = rank_root_causes([sig("api", 10, sid=1), sig("worker", 0, sid=2), sig("web", 30, sid=3)], SHOP)
    assert [c.service for c in causes][:2] == ["api", "db"]
    db = causes[1]
    assert db.signal_id is None and db.signals == 0
    assert db.reasons == ["3 of the 3 alerting services depend on it (api, web, worker); "
                          "no alert of its own in this incident"]
    assert causes[0].score < db.score  # never first, whatever its score: the incident's evidence is its alerts


def test_no_silent_candidate_when_an_alerting_service_accounts_for_the_same_services() -> None:
    # db alerts: it accounts for everything that depends on it, so nothing below it is proposed
    deep = topo(("web", "api"), ("api", "db"), ("worker", "db"), ("db", "disk"))
    assert "disk" not in ranked([sig("db", 60), sig("api", 0), sig("worker", 5)], deep)
    # nor for one alerting service, or a dependency of fewer than half of the alerting services
    assert "db" not in ranked([sig("api", 0)])
    assert "db" not in ranked([sig("api", 0), sig("web", 5), sig("cache", 10), sig("x", 15), sig("y", 20)])


def test_a_silent_candidate_alerting_in_another_incident_says_which(tmp_path) -> None:  # noqa: ANN001
    from opsloop.aiops.pipeline import Pipeline
    from opsloop.core.signals import Severity, Signal
    from opsloop.storage.sql.engine import open_database
    from opsloop.storage.sql.incidents import AiopsStores

    db = open_database(f"sqlite:///{tmp_path}/rc.db")
    try:
        pipeline = Pipeline(AiopsStores(db), mine_logs=False)
        pipeline.load()
        pipeline.set_topology([("web", "api"), ("api", "db"), ("worker", "db")], actor="test")
        t = time.time() - 600

        def alert(service: str, dt: float) -> Signal:
            return Signal(time=t + dt, source="test", service=service, labels={"alertname": "Err", "service": service},
                          severity=Severity.ERROR, text=f"Err on {service}")

        # db's own rule waits over five minutes: its alert comes too late to join its callers' incident
        opened = [pipeline.ingest([alert(s, dt)], now=t + 330).opened for s, dt in
                  [("api", 0), ("worker", 10), ("web", 30), ("db", 320)]]
        assert opened == [[1], [], [], [2]]
        signals = pipeline.stores.signals.list(incident_id=1, limit=100, ascending=True)
        causes = {c["service"]: c for c in pipeline.root_causes(pipeline.stores.incidents.get(1), signals)}
        assert causes["db"]["alerting_in_incident"] == 2
        assert causes["db"]["reasons"][-1] == "alerting in incident 2 since 320s after this one started"
        assert causes["api"]["alerting_in_incident"] is None
    finally:
        db.dispose()
