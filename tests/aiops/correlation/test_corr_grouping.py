"""Grouping: time, labels and topology (declared and learned), with reasons; silences, inhibition, flapping."""

from __future__ import annotations

import time

import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents

from opsloop.aiops.correlation import (
    Correlator,
    FlapDetector,
    GroupingConfig,
    Inhibitor,
    InhibitRule,
    Topology,
    parse_matchers,
)
from opsloop.aiops.correlation.silences import Silence, Silences
from opsloop.aiops.correlation.topology import parse_topology
from opsloop.core.signals import Severity, Signal
from opsloop.errors import InvalidInputError

AM = API + "/ingest/alertmanager"


def sig(service: str, t: float, name: str = "Err", sev: Severity = Severity.ERROR, **labels: str) -> Signal:
    return Signal(time=t, source="test", service=service, labels={"alertname": name, "service": service, **labels},
                  severity=sev, text=f"{name} on {service}")


def feed(c: Correlator, signals: list[Signal]) -> list[int]:
    out, next_id = [], max(c.groups, default=0) + 1
    for s in signals:
        c.observe(s)
        d = c.decide(s)
        gid = d.group_id
        if gid is None:
            gid, next_id = next_id, next_id + 1
        c.add(gid, s)
        out.append(gid)
    return out


def test_topology_parsing_and_distance() -> None:
    edges = parse_topology({"services": {"web": ["api"], "api": ["db", "cache"]},
                            "edges": [{"source": "batch", "target": "db"}]})
    topo = Topology(edges)
    assert topo.distance("web", "db") == 2 and topo.distance("db", "web") == 2
    assert topo.distance("web", "batch", max_hops=5) is None  # siblings: both depend on db, no failure path
    assert topo.dependents("db") == {"api": 1, "batch": 1, "web": 2}
    assert topo.neighbours("api") == {"web", "db", "cache"}
    with pytest.raises(InvalidInputError):
        parse_topology({"services": {"web": [1]}})


def test_same_service_and_time_window() -> None:
    c = Correlator(config=GroupingConfig(window_s=300))
    ids = feed(c, [sig("api", 0), sig("api", 30, "Latency"), sig("api", 1000)])
    assert ids == [1, 1, 2]


def test_topology_groups_a_cascade_and_keeps_unrelated_apart() -> None:
    topo = Topology([("web", "api"), ("api", "db"), ("shop", "payments")])
    c = Correlator(topo)
    ids = feed(c, [sig("db", 0), sig("api", 20), sig("web", 45), sig("payments", 50), sig("unrelated", 60)])
    assert ids == [1, 1, 1, 2, 3]
    d = c.decide(sig("web", 70, "Other"))
    assert d.group_id == 1 and any("same service web" in r for r in d.reasons)
    d = c.decide(sig("shop", 70))
    assert d.group_id == 2 and any("shop depends on payments (declared topology)" in r for r in d.reasons)


def test_a_dependency_alerting_soon_after_its_callers_is_their_cause() -> None:
    c = Correlator(Topology([("api", "db")]))
    feed(c, [sig("api", 0)])
    d = c.decide(sig("db", 20))
    assert d.group_id == 1
    assert d.reasons[0] == "db is a dependency of api (declared topology), 20s after the incident started"


def test_a_dependency_starting_to_alert_later_is_a_new_root() -> None:
    c = Correlator(Topology([("api", "db")]))
    ids = feed(c, [sig("api", 0), sig("api", 60, "Latency"), sig("db", 100)])
    assert ids == [1, 1, 2], "api already alerted for 100 s: db failing now is a new root, not api's cause"
    d = c.decide(sig("api", 130, "Errors"))
    assert d.group_id == 2, "api's new symptom follows db's failure since its last alert, not its own older trouble"
    assert d.reasons[0] == ("api alerted in incident 1 70s before; since then its dependency db started alerting "
                            "here (30s before): the newer failure beneath it")
    assert "api depends on db" in d.reasons[1]


def test_the_dependent_window_grows_with_the_hops() -> None:
    topo = Topology([("web", "api"), ("api", "db")])
    c = Correlator(topo)
    feed(c, [sig("db", 0)])
    d = c.decide(sig("web", 140))
    assert d.group_id == 1 and any("web depends on (2 hops) db (declared topology), 140s after" in r
                                   for r in d.reasons)
    assert c.decide(sig("api", 140)).group_id is None, "one hop away, 140 s is too late to be db's symptom"


def test_a_dependent_is_timed_from_the_current_episode_of_its_dependency() -> None:
    c = Correlator(Topology([("api", "db")]))
    feed(c, [sig("db", 0), sig("db", 100, "Disk")])  # db quiet for 100 s: a new episode of it starts
    d = c.decide(sig("api", 160))
    assert d.group_id == 1 and d.reasons[0] == "api depends on db (declared topology), 60s after it started alerting"
    c = Correlator(Topology([("api", "db")]))
    assert feed(c, [sig("db", 0), sig("db", 60, "Disk"), sig("api", 160)]) == [1, 1, 2], \
        "db kept alerting since 0 s: api 160 s later is not its symptom"


def test_a_changed_declared_topology_counts_from_the_next_decision() -> None:
    topo = Topology([("web", "db")])
    c = Correlator(topo)
    feed(c, [sig("db", 0, "DBDown")])
    first = c.decide(sig("web", 10, "Slow"))
    assert first.group_id is not None and any("web depends on db (declared" in r for r in first.reasons)
    topo.set_declared([("web", "api"), ("api", "db")])
    again = c.decide(sig("web", 10, "Slow"))
    assert any("web depends on (2 hops) db (declared" in r for r in again.reasons)
    topo.set_declared([])  # no topology: only time proximity is left
    assert c.decide(sig("web", 10, "Slow")).reasons[0] == (
        "10s from when db started alerting (no known dependency: time proximity)")


def test_a_same_service_alert_after_a_quiet_spell_opens_a_new_incident() -> None:
    c = Correlator()
    assert feed(c, [sig("api", 0), sig("api", 80, "Latency"), sig("api", 220, "Disk")]) == [1, 1, 2]


def test_alerts_delivered_late_group_the_same_whether_or_not_expire_ran_between_them() -> None:
    """Alertmanager delivers an alert up to a group_interval after it started, while newer alerts of
    other groups have come: those late alerts, further behind the newest than window_s, group as they
    would have in time, and the periodic ``expire`` running between two of them changes nothing (it
    used to forget their incident, so a tick at the wrong moment split it)."""

    def run(expire_between: bool) -> list[int]:
        c = Correlator()
        out = []
        for s in (sig("web", 10_000, "Slow"), sig("api", 9_600, "Errors"), sig("api", 9_605, "Timeouts"),
                  sig("api", 9_680, "Latency"), sig("api", 9_760, "Saturation")):
            if expire_between:
                c.expire()
            c.observe(s)
            gid = c.decide(s).group_id or len(set(out)) + 1  # numbered as the engine numbers them
            c.add(gid, s)
            out.append(gid)
        return out

    assert run(expire_between=False) == run(expire_between=True) == [1, 2, 2, 2, 2]
    c = Correlator()
    feed(c, [sig("api", 0, "Errors"), sig("api", 5, "Timeouts"), sig("web", 10_000, "Slow")])
    assert c.expire() == 1, "an incident too far behind the newest signal for any to join it is forgotten"
    assert feed(c, [sig("api", 60, "Latency")]) == [3], "and a signal later still opens its own"


def test_a_recurrence_reopens_an_incident_that_resolved_soon_after_its_last_signal_not_a_long_lasting_one() -> None:
    brief, lasting = Correlator(), Correlator()
    for c in (brief, lasting):
        assert feed(c, [sig("api", 0, "Errors"), sig("api", 20, "Latency")]) == [1, 1]
    brief.mark_resolved(1, 200)  # stopped 3 minutes after its last signal
    assert brief.decide(sig("api", 300, "Errors")).group_id == 1, "back 100 s after it stopped: reopened"
    lasting.mark_resolved(1, 1_800)  # went on firing, nothing new, for half an hour
    assert lasting.decide(sig("api", 1_900, "Errors")).group_id is None, "a new fault, not the old one back"


def test_a_service_alerting_again_stays_in_its_incident_when_nothing_failed_beneath_it_since() -> None:
    c = Correlator(Topology([("api", "db")]))
    assert feed(c, [sig("db", 0, "ServiceDown"), sig("api", 10, "HighLatency"), sig("api", 40, "HighErrorRate")]) \
        == [1, 1, 1], "db started before api's last signal: one incident"
    c = Correlator(Topology([("api", "db")]))
    assert feed(c, [sig("api", 0), sig("api", 60, "Latency"), sig("db", 65)]) == [1, 1, 2]
    assert c.decide(sig("api", 145, "Errors")).group_id == 1, \
        "db started 80 s ago, past the link window: api's trouble is still its own"


def test_learned_links_do_not_join_services_the_declared_topology_keeps_apart() -> None:
    topo = Topology([("a", "x"), ("b", "x")], min_support=3, min_strength=0.5)  # siblings of x
    for k in range(4):
        topo.observe("a", k * 10_000.0)
        topo.observe("b", k * 10_000.0 + 30)
    assert topo.learned_strength("a", "b") == 1.0
    c = Correlator(topo)
    # 90 s apart: the learned link alone would join them (2.5 fading over 75-150 s), siblings do not
    assert feed(c, [sig("a", 100_000.0), sig("b", 100_090.0)]) == [1, 2]
    c = Correlator(topo)
    assert feed(c, [sig("a", 100_000.0), sig("x", 100_010.0), sig("b", 100_030.0)]) == [1, 1, 1]


def test_a_recurring_alert_alone_in_its_incident_rejoins_it_within_the_recurrence_window() -> None:
    c = Correlator(Topology([("api", "db")]))
    first, recur = c.config.first_recur_s, c.config.recur_window_s
    assert c.config.window_s < 3000 < first < recur
    flaky = sig("batch", 0, "BackupLate", instance="batch-1")
    assert feed(c, [flaky]) == [1]
    c.mark_resolved(1, 120)
    assert feed(c, [sig("api", 1000), sig("db", 1010)]) == [2, 2]
    assert c.expire(now=3000) == 1, "the two-alert incident is forgotten, the lone alert's is kept"
    again = sig("batch", 3000, "BackupLate", instance="batch-1")
    d = c.decide(again)
    assert d.group_id == 1 and d.reopen and "a recurring alert, alone in this incident" in d.reasons[0]
    assert c.decide(sig("db", 3000)).group_id is None
    assert c.decide(sig("batch", 120 + first + 100, "BackupLate", instance="batch-1")).group_id is None, \
        "an alert that fired once, back after more than first_recur_s: a new incident"
    assert feed(c, [again]) == [1]
    c.mark_resolved(1, 3060)
    assert c.decide(sig("batch", 3060 + recur - 100, "BackupLate", instance="batch-1")).group_id == 1, \
        "known to recur: taken back for recur_window_s"
    assert c.decide(sig("batch", 3060 + recur + 100, "BackupLate", instance="batch-1")).group_id is None, "later: new"


def test_an_operator_resolved_lone_alert_recurring_opens_a_new_incident() -> None:
    gap = 1800.0  # past window_s, within the recurrence window even of an alert that fired once
    auto = Correlator()
    assert auto.config.window_s < gap < gap + 120 < auto.config.first_recur_s
    assert feed(auto, [sig("batch", 0, "BackupLate", instance="batch-1")]) == [1]
    auto.mark_resolved(1, 120)  # every signal resolved: auto-resolve
    assert feed(auto, [sig("batch", 120 + gap, "BackupLate", instance="batch-1")]) == [1], "rejoins (reopens)"

    human = Correlator()
    assert feed(human, [sig("batch", 0, "BackupLate", instance="batch-1")]) == [1]
    human.mark_resolved(1, 120, by_operator=True)  # a person resolved it
    assert human.decide(sig("batch", 120 + gap, "BackupLate", instance="batch-1")).group_id is None
    d = human.decide(sig("batch", 200, "BackupLate", instance="batch-1"))
    assert d.group_id == 1 and d.reopen, "within window_s it is the same incident still, as for any incident"
    assert human.expire(now=120 + gap) == 1, "nothing can join it any more: forgotten"

    rebuilt = Correlator()
    rebuilt.rebuild(1, [(sig("batch", 0, "BackupLate", instance="batch-1"), "fp")], resolved=True, by_operator=True)
    assert rebuilt.groups[1].resolved and rebuilt.groups[1].operator_resolved
    rebuilt.add(1, sig("batch", 100, "BackupLate", instance="batch-1"), "fp")
    assert not rebuilt.groups[1].operator_resolved, "a signal joining reopens it"


def test_a_flaky_checks_incident_takes_no_other_alert() -> None:
    c = Correlator(Topology([("api", "db")]))
    firings = [sig("db", t, "DiskSpaceLow", instance="db-0") for t in (0, 900, 1800)]
    assert feed(c, firings) == [1, 1, 1]
    assert c.decide(sig("db", 1830, "ServiceDown", instance="db-0")).group_id is None
    assert c.decide(sig("api", 1830)).group_id is None
    c = Correlator(Topology([("api", "db")]))
    feed(c, [sig("db", 0, "DiskSpaceLow", instance="db-0")])
    assert c.decide(sig("db", 30, "ServiceDown", instance="db-0")).group_id == 1, "once is not recurring"


def test_rare_shared_labels_group_common_ones_do_not() -> None:
    c = Correlator(config=GroupingConfig(use_topology=False, use_learned=False, burst_weight=0.0))
    background = [sig(f"svc{i}", i * 1000.0, "Noise", cluster="prod", zone=f"z{i % 3}") for i in range(30)]
    feed(c, background)
    t = 40_000.0
    a = sig("a", t, "DiskFull", cluster="prod", volume="vol-7", zone="z1")
    b = sig("b", t + 5, "IOErrors", cluster="prod", volume="vol-7", zone="z1")
    x = sig("x", t + 6, "Other", cluster="prod", zone="z1")
    ids = feed(c, [a, b, x])
    assert ids[0] == ids[1] != ids[2], c.decide(b).reasons
    score, reasons = c.score(sig("c", t + 7, "Y", volume="vol-7"), "fp-c", c.groups[ids[0]])
    assert 0 < score and any("shares labels volume=vol-7" in r for r in reasons)


def test_identity_label_groups() -> None:
    c = Correlator()
    ids = feed(c, [sig("node-exporter", 0, "Down", instance="10.0.0.1:9100"),
                   sig("node", 5, "Up0", instance="10.0.0.1:9100")])
    assert ids == [1, 1]


def test_learned_co_occurrence() -> None:
    topo = Topology(min_support=3, min_strength=0.5)
    for k in range(4):
        topo.observe("queue", k * 10_000.0)
        topo.observe("worker", k * 10_000.0 + 30)
    assert topo.learned_strength("queue", "worker") == 1.0
    assert topo.learned()[0].support == 4
    c = Correlator(topo)
    ids = feed(c, [sig("queue", 100_000.0), sig("worker", 100_040.0)])
    assert ids == [1, 1]
    d = c.decide(sig("worker", 100_050.0, "Other"))
    assert d.group_id == 1


def test_matchers_and_silences() -> None:
    ms = parse_matchers('{service="db", severity=~"warn.*|error", team!="x", env!~"dev|test"}')
    assert [str(m) for m in ms] == ['service="db"', 'severity=~"warn.*|error"', 'team!="x"', 'env!~"dev|test"']
    assert all(m.matches({"service": "db", "severity": "warning", "env": "prod"}) for m in ms)
    assert not ms[1].matches({"severity": "xwarning"})  # anchored like Alertmanager
    api = parse_matchers([{"name": "service", "value": "d.*", "isRegex": True, "isEqual": True}])
    assert api[0].matches({"service": "db"})
    with pytest.raises(InvalidInputError):
        parse_matchers('service="db" oops')
    with pytest.raises(InvalidInputError):
        parse_matchers('x=~"("')
    s = Silences([Silence(1, parse_matchers('service="db"'), 100, 200)])
    assert s.match({"alertname": "x"}, "db", 150).id == 1
    assert s.match({}, "db", 250) is None and s.match({}, "api", 150) is None


def test_inhibition_rules_and_topology() -> None:
    topo = Topology([("web", "api"), ("api", "db")])
    rule = InhibitRule.from_dict({"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                                  "equal": ["cluster"]})
    inh = Inhibitor([rule], topo)
    crit = sig("other", 0, "Big", Severity.CRITICAL, severity="critical", cluster="eu")
    inh.firing(crit, "fp-crit")
    warn_eu = sig("misc", 1, "Small", Severity.WARNING, severity="warning", cluster="eu")
    warn_us = sig("misc", 1, "Small", Severity.WARNING, severity="warning", cluster="us")
    assert "rule" in inh.check(warn_eu, "w1")
    assert inh.check(warn_us, "w2") is None
    inh.resolved("fp-crit")
    assert inh.check(warn_eu, "w1") is None
    db = sig("db", 0, "DBDown", Severity.CRITICAL)
    inh.firing(db, "fp-db")
    assert "web depends on db (2 hops)" in inh.check(sig("web", 5), "w")
    assert inh.check(sig("db", 5, "Other"), "x") is None  # not its own dependent
    inh.resolved("fp-db")
    assert inh.check(sig("web", 5), "w") is None


def test_a_long_firing_dependency_does_not_hide_a_new_failure_of_its_dependents() -> None:
    inh = Inhibitor([], Topology([("web", "api"), ("api", "db")]))
    inh.firing(sig("db", 0, "DBDown", Severity.CRITICAL), "fp-db")
    assert "api depends on db (1 hop), which is firing DBDown since 60s before" in inh.check(sig("api", 60), "a")
    assert inh.check(sig("web", 250), "w") is not None, "two hops: the failure takes longer to show"
    assert inh.check(sig("api", 600), "a") is None, "db has been down for 10 minutes: api failing now is news"


def test_inhibition_names_the_dependencys_latest_alert_as_its_alerts_start_and_resolve() -> None:
    inh = Inhibitor([], Topology([("api", "db")]))
    inh.firing(sig("db", 0, "DBDown", Severity.CRITICAL), "fp-down")
    inh.firing(sig("db", 100, "DBSlow", Severity.CRITICAL), "fp-slow")
    assert "firing DBSlow since 20s before" in inh.check(sig("api", 120), "a")
    inh.firing(sig("db", 110, "DBLocks", Severity.CRITICAL), "fp-locks")
    assert "firing DBLocks since 10s before" in inh.check(sig("api", 120), "a")
    inh.resolved("fp-locks")
    assert "firing DBSlow since 20s before" in inh.check(sig("api", 120), "a")
    inh.firing(sig("db", 50, "DBSlow", Severity.CRITICAL), "fp-slow")  # the same alert, an earlier start
    assert "firing DBSlow since 70s before" in inh.check(sig("api", 120), "a")
    assert inh.check(sig("api", 250), "a") is None, "every db alert started over 150 s before"
    inh.resolved("fp-slow")
    inh.resolved("fp-down")
    assert inh.check(sig("api", 1), "a") is None


def test_flap_detector() -> None:
    f = FlapDetector(window_s=100, threshold=4)
    states = ["firing", "resolved"] * 3
    flags = [f.record("fp", s, i * 10.0) for i, s in enumerate(states)]
    assert flags == [False, False, False, False, True, True]
    assert not f.is_flapping("fp", 500.0)


# --- through the API --------------------------------------------------------------------------------------
def test_api_topology_groups_and_records_reasons(client) -> None:  # noqa: ANN001
    r = client.put(API + "/topology", json={"services": {"checkout": ["payments"], "payments": ["postgres"]}})
    assert r.status_code == 200 and len(r.json()["declared"]) == 2
    t = time.time()
    client.post(AM, json=am_payload([alert("PGDown", "postgres", start=t)]))
    client.post(AM, json=am_payload([alert("Latency", "checkout", start=t + 20), alert("Disk", "billing", start=t + 25)]))
    incs = {i["service"]: i for i in incidents(client)}
    assert set(incs) == {"postgres", "billing"}
    assert incs["postgres"]["services"] == ["postgres", "checkout"]
    detail = client.get(f"{API}/incidents/{incs['postgres']['id']}").json()
    reasons = [r for g in detail["grouping_reasons"] for r in g["reasons"]]
    assert "opened the incident" in reasons
    assert any("checkout depends on (2 hops) postgres (declared topology)" in r for r in reasons)
    assert any("inhibited: checkout depends on postgres" in r for r in reasons)
    assert client.get(API + "/topology").json()["declared"][0] == {"source": "checkout", "target": "payments"}
    assert client.put(API + "/topology", json={"services": "nope"}).status_code == 400


def test_api_silence_and_maintenance(client) -> None:  # noqa: ANN001
    r = client.post(API + "/silences", json={"matchers": '{service="db"}', "duration_s": 3600, "created_by": "ann",
                                             "comment": "migration"})
    assert r.status_code == 200 and r.json()["state"] == "active"
    sid = r.json()["id"]
    r = client.post(API + "/silences", json={"kind": "maintenance", "matchers": ['service=~"batch-.*"'],
                                             "starts_at": time.time() - 10, "ends_at": time.time() + 600})
    assert r.status_code == 200
    client.post(AM, json=am_payload([alert("Down", "db"), alert("Late", "batch-7"), alert("Down", "api")]))
    assert [i["service"] for i in incidents(client)] == ["api"]
    sigs = {s["service"]: s for s in client.get(API + "/signals").json()["signals"]}
    assert sigs["db"]["suppressed"] == f"silence:{sid}" and sigs["db"]["incident_id"] is None
    assert sigs["batch-7"]["suppressed"].startswith("maintenance:")
    assert len(client.get(API + "/silences").json()["silences"]) == 2
    assert client.delete(f"{API}/silences/{sid}").status_code == 200
    assert len(client.get(API + "/silences").json()["silences"]) == 1
    # minutes after api's: not grouped with it by time proximity (there is no topology)
    client.post(AM, json=am_payload([alert("Other", "db", start=time.time() + 200)]))
    assert {i["service"] for i in incidents(client)} == {"api", "db"}
    assert client.post(API + "/silences", json={"matchers": "x=", "duration_s": 5}).status_code == 400
    assert client.post(API + "/silences", json={"matchers": 'a="b"'}).status_code == 400
    audit = client.get(API + "/audit", params={"entity": "silence"}).json()["audit"]
    assert [a["action"] for a in audit] == ["expire", "create"]


def test_api_inhibit_rules(client) -> None:  # noqa: ANN001
    rules = [{"source_matchers": ['alertname="ClusterDown"'], "target_matchers": ['severity="warning"'],
              "equal": ["cluster"]}]
    assert client.put(API + "/inhibit-rules", json=rules).status_code == 200
    t0 = time.time() - 300  # shop2 alerts minutes after k8s: not grouped with it by time proximity
    client.post(AM, json=am_payload([alert("ClusterDown", "k8s", cluster="eu", start=t0)]))
    client.post(AM, json=am_payload([alert("PodPending", "shop", severity="warning", cluster="eu", start=t0 + 200),
                                     alert("PodPending", "shop2", severity="warning", cluster="us", start=t0 + 200)]))
    services = sorted(i["service"] for i in incidents(client))
    assert services == ["k8s", "shop2"]
    assert client.put(API + "/inhibit-rules", json=[{"source_matchers": []}]).status_code == 400


def test_api_flapping_holds_auto_resolve(client) -> None:  # noqa: ANN001
    t0 = time.time() - 300
    for k in range(4):
        start = t0 + k * 20
        client.post(AM, json=am_payload([alert("Flappy", "api", start=start)]))
        client.post(AM, json=am_payload([alert("Flappy", "api", start=start, status="resolved", end=start + 10)]))
    [inc] = incidents(client)
    assert "flapping" in inc["flags"]
    assert inc["state"] == "triggered", "auto-resolve is held while the alert flaps"
    detail = client.get(f"{API}/incidents/{inc['id']}").json()
    assert any(e["kind"] == "flapping" for e in detail["timeline"])
    assert detail["signal_count"] == 4
