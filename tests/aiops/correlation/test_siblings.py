"""Siblings: the callers of a failing service often alert before it does, and early in an incident
two services that depend on one service (neither on a path to the other) alerting together join."""

from __future__ import annotations

from tests.aiops.correlation.test_corr_grouping import feed, sig

from opsloop.aiops.correlation import Correlator, GroupingConfig, Topology

SIBLINGS = [("a", "x"), ("b", "x"), ("x", "disk")]


def test_callers_of_one_service_alerting_together_early_in_an_incident_are_one_incident() -> None:
    c = Correlator(Topology(SIBLINGS))
    feed(c, [sig("a", 0)])
    d = c.decide(sig("b", 20, "Latency"))
    # the nearest shared dependency names them (both also depend on disk, two hops down)
    assert (d.group_id, d.reasons[0]) == (1, "b and a both depend on x (siblings), 20s after a started alerting")


def test_siblings_count_fully_within_30_s_fading_to_nothing_at_60_s() -> None:
    c = Correlator(Topology(SIBLINGS))
    feed(c, [sig("a", 0)])
    g = c.groups[1]
    scores = [c.score(sig("b", t, "Other"), "fp-b", g)[0] for t in (30, 45, 60)]
    assert scores == [2.0, 1.0, 0.0]
    assert c.decide(sig("b", 45, "Other")).group_id is None  # under min_score alone


def test_siblings_count_only_in_the_incidents_first_minute() -> None:
    c = Correlator(Topology(SIBLINGS + [("c", "x")]))
    # a's incident is a minute and a half old when c starts: b (a sibling) did start alerting 20 s
    # before, but time alone says little once an incident is under way
    assert feed(c, [sig("a", 0), sig("a", 50), sig("b", 70, "Latency"), sig("c", 90, "Latency")]) == [1, 1, 2, 2]


def test_a_shared_dependency_two_hops_down_counts() -> None:
    c = Correlator(Topology([("a", "m"), ("m", "x"), ("b", "x")]))
    feed(c, [sig("a", 0)])
    d = c.decide(sig("b", 10))
    assert d.group_id == 1 and d.reasons[0].startswith("b and a both depend on x (siblings)")


def test_services_with_nothing_in_common_or_on_one_path_are_not_siblings() -> None:
    c = Correlator(Topology([("a", "x"), ("b", "y")]))
    assert feed(c, [sig("a", 0), sig("b", 5)]) == [1, 2]
    # a caller and its dependency are judged by the cascade's direction and timing, not as siblings
    c = Correlator(Topology([("a", "x"), ("b", "x"), ("a", "b")]))
    feed(c, [sig("a", 0)])
    d = c.decide(sig("b", 5))
    assert d.group_id == 1 and d.reasons[0].startswith("b is a dependency of a (declared topology)")


def test_siblings_can_be_turned_off() -> None:
    c = Correlator(Topology(SIBLINGS), GroupingConfig(sibling_weight=0.0))
    assert feed(c, [sig("a", 0), sig("b", 20, "Latency")]) == [1, 2]


def test_siblings_stop_counting_once_the_incident_has_ten_services() -> None:
    # eleven callers of one service: the first ten alert together, the eleventh joins no longer by siblings
    c = Correlator(Topology([(f"caller-{i}", "x") for i in range(11)]))
    ids = feed(c, [sig(f"caller-{i}", i * 2.0, f"Alert{i}") for i in range(11)])
    assert ids == [1] * 10 + [2]
