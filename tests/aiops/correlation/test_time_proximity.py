"""Time proximity: with nothing known of two services, alerting soon after one another is the evidence."""

from __future__ import annotations

import pytest
from tests.aiops.correlation.test_corr_grouping import feed, sig

from opsloop.aiops.correlation import Correlator, GroupingConfig, Topology


def test_an_alert_storm_with_no_topology_is_one_incident_while_services_keep_joining_soon() -> None:
    c = Correlator()
    ids = feed(c, [sig("checkout", 0), sig("cart", 25, "Latency"), sig("search", 70, "Errors"),
                   sig("mail", 129, "Queue"), sig("billing", 400, "Down")])
    # search is 45 s after cart started, mail 59 s after search: each joins; billing, minutes later, does not
    assert ids == [1, 1, 1, 1, 2]
    d = c.decide(sig("ads", 140, "Slow"))
    assert d.group_id == 1
    assert d.reasons[0] == "11s from when mail started alerting (no known dependency: time proximity)"


def test_proximity_fades_to_nothing_at_twice_its_window() -> None:
    c = Correlator()
    feed(c, [sig("a", 0)])
    g = c.groups[1]
    full, half, none = (c.score(sig("b", t, "Other"), "fp-b", g)[0] for t in (60, 90, 120))
    assert (full, half, none) == (pytest.approx(2.0), pytest.approx(1.0), 0.0)
    assert c.decide(sig("b", 90, "Other")).group_id is None  # under min_score alone


def test_the_topology_decides_for_the_services_it_names() -> None:
    # a and b are named: the topology says they are on no common path, so time says nothing of them
    c = Correlator(Topology([("a", "x"), ("b", "y")]))
    assert feed(c, [sig("a", 0), sig("b", 5)]) == [1, 2]
    # an unnamed service is not joined to an incident of named ones by time alone either...
    assert c.decide(sig("batch", 10)).group_id is None
    # ...but it is to one of another unnamed service
    feed(c, [sig("cron", 20)])
    d = c.decide(sig("batch", 30))
    assert d.group_id == 3 and "cron started alerting" in d.reasons[0]


def test_proximity_can_be_turned_off() -> None:
    c = Correlator(config=GroupingConfig(burst_weight=0.0))
    assert feed(c, [sig("a", 0), sig("b", 5)]) == [1, 2]


def test_a_decision_by_proximity_is_the_one_its_score_gives() -> None:
    c = Correlator()
    feed(c, [sig("a", 0), sig("b", 300)])  # two incidents, minutes apart
    s = sig("c", 310)
    d = c.decide(s)
    score, reasons = c.score(s, s.fingerprint(), c.groups[2])
    assert (d.group_id, d.score, d.reasons) == (2, score, reasons)


@pytest.mark.parametrize(("seconds", "weight", "window"), [(60.0, 2.0, 60.0), (20.0, 2.0, 20.0), (0.0, 0.0, 60.0)])
def test_the_setting_sets_the_window_and_zero_turns_it_off(tmp_path, seconds, weight, window) -> None:  # noqa: ANN001
    from opsloop.aiops.pipeline import Pipeline
    from opsloop.settings import load_settings
    from opsloop.storage.sql.engine import open_database
    from opsloop.storage.sql.incidents import AiopsStores

    settings = load_settings({"storage": {"data_dir": str(tmp_path)}, "topology": {"time_proximity_s": seconds}},
                             environ={})
    db = open_database(settings.storage.resolved_database_url)
    try:
        config = Pipeline.from_settings(AiopsStores(db), settings).engine.correlator.config
        assert (config.burst_weight, config.burst_window_s) == (weight, window)
    finally:
        db.dispose()


def test_a_flow_of_alerts_from_many_services_is_not_one_incident() -> None:
    c = Correlator()
    ids = feed(c, [sig(f"svc-{i}", i * 2.0, f"Alert{i}") for i in range(60)])  # a new service every 2 s
    sizes = sorted(ids.count(g) for g in set(ids))
    assert sizes == [20, 20, 20]  # time alone puts at most 20 services in one incident


def test_a_resolved_incident_takes_nothing_by_proximity() -> None:
    c = Correlator()
    feed(c, [sig("churn-model", 0, "Drift")])
    c.mark_resolved(1, 20.0)  # its drift resolved at once
    assert c.decide(sig("fraud-model", 40, "Accuracy")).group_id is None
