"""A late root: the callers of a failing service alert before it does (its "down" rule waits longer),
so its own alert comes minutes after their incident started; it joins that incident when it is the
dependency most of the incident's services share and none of them accounts for the others."""

from __future__ import annotations

from tests.aiops.correlation.test_corr_grouping import feed, sig

from opsloop.aiops.correlation import Correlator, GroupingConfig, Topology

# api and worker both call db; web calls api
EDGES = [("web", "api"), ("api", "db"), ("worker", "db"), ("other", "cache")]


def callers() -> list:
    return [sig("api", 0, "Errors"), sig("worker", 10, "Errors"), sig("web", 30, "Errors")]


def test_the_shared_dependency_alerting_minutes_late_joins_its_callers_incident() -> None:
    c = Correlator(Topology(EDGES))
    assert feed(c, callers()) == [1, 1, 1]
    d = c.decide(sig("db", 200, "Down"))
    assert d.group_id == 1
    assert d.reasons[0] == ("db is a dependency of 3 of the incident's 3 services (api, web, worker), none of "
                            "which accounts for the others: their root, alerting 200s after the incident started")


def test_not_after_five_minutes_nor_once_the_incident_is_resolved() -> None:
    c = Correlator(Topology(EDGES))
    feed(c, callers() + [sig("api", 250, "Errors")])  # the incident is still alerting
    assert c.decide(sig("db", 301, "Down")).group_id is None
    c = Correlator(Topology(EDGES))
    feed(c, callers())
    c.mark_resolved(1, 60)
    assert c.decide(sig("db", 200, "Down")).group_id is None


def test_not_when_an_alerting_service_of_the_incident_accounts_for_those_depending_on_it() -> None:
    # api alerts first and web (its caller) after: api explains web, so db (below api) is no better a
    # root than api itself, and a new failure of db later is a new incident
    c = Correlator(Topology(EDGES))
    assert feed(c, [sig("api", 0, "Errors"), sig("web", 20, "Errors")]) == [1, 1]
    assert c.decide(sig("db", 200, "Down")).group_id is None


def test_not_when_it_is_a_dependency_of_under_two_thirds_of_the_incidents_services() -> None:
    topo = Topology(EDGES + [("queue", "broker"), ("mailer", "broker")])
    c = Correlator(topo)
    # api and worker (siblings through db), then queue and mailer (siblings through broker) all in one
    # incident, all on one host; db is a dependency of 2 of its 4 services
    alerts = [sig(s, i * 5.0, "Errors", host="node-7") for i, s in enumerate(["api", "worker", "queue", "mailer"])]
    assert feed(c, alerts) == [1, 1, 1, 1]
    assert c.decide(sig("db", 200, "Down")).group_id is None
    assert c.decide(sig("broker", 200, "Down")).group_id is None


def test_late_root_can_be_turned_off() -> None:
    c = Correlator(Topology(EDGES), GroupingConfig(late_root_weight=0.0))
    feed(c, callers())
    assert c.decide(sig("db", 200, "Down")).group_id is None
