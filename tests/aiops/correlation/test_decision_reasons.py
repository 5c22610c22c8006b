"""The reasons a decision gives, word for word, for every kind of evidence.

``decide`` formats the reasons of the winning incident only (the others are scored, never shown):
the texts must be those ``score`` gives for that incident, and the same as before that was so.
"""

from __future__ import annotations

import pytest

from opsloop.aiops.correlation import Correlator, GroupingConfig, Topology
from opsloop.core.signals import Signal


def sig(service: str, t: float, name: str = "Err", **labels: str) -> Signal:
    return Signal(time=t, source="test", service=service, labels={"alertname": name, "service": service, **labels},
                  text=f"{name} on {service}")


def feed(c: Correlator, signals: list[Signal]) -> None:
    next_id = max(c.groups, default=0) + 1
    for s in signals:
        c.observe(s)
        gid = c.decide(s).group_id
        if gid is None:
            gid, next_id = next_id, next_id + 1
        c.add(gid, s)


def _cascade() -> Correlator:
    c = Correlator(Topology([("web", "api"), ("api", "db")]))
    feed(c, [sig("db", 0, "Down", instance="db-0"), sig("db", 5, "Slow", instance="db-1")])
    return c


def _cause() -> Correlator:
    c = Correlator(Topology([("web", "api"), ("api", "db")]))
    feed(c, [sig("web", 0), sig("api", 10)])
    return c


def _labels() -> Correlator:
    c = Correlator(config=GroupingConfig(use_topology=False, use_learned=False, burst_weight=0.0))
    feed(c, [sig(f"svc{i}", i * 1000.0, "Noise", cluster="prod", zone=f"z{i % 3}") for i in range(30)])
    feed(c, [sig("a", 40_000.0, "DiskFull", volume="vol-7", zone="z1", rack="r9")])
    return c


def _recurring() -> Correlator:
    c = Correlator()
    feed(c, [sig("batch", 0, "BackupLate", instance="batch-1")])
    c.mark_resolved(1, 120)
    return c


def _learned() -> Correlator:
    topo = Topology(min_support=3, min_strength=0.5)
    for k in range(4):
        topo.observe("queue", k * 10_000.0)
        topo.observe("worker", k * 10_000.0 + 30)
    c = Correlator(topo)
    feed(c, [sig("queue", 100_000.0)])
    return c


CASES = [
    (_cascade, sig("db", 8, "Down", instance="db-0"), 1, 7.721057,
     ["the same alert fired again", "same service db, 3s after its last signal", "shares labels alertname=Down",
      "3s from the incident's other signals"]),
    (_cascade, sig("db", 200, "Full", instance="db-2"), None, 0.0, []),
    (_cascade, sig("cache", 9, "Miss", instance="db-1"), 1, 3.0,
     ["same instance db-1, 4s after its last signal", "4s from the incident's other signals"]),
    (_cascade, sig("api", 30), 1, 2.5,
     ["api depends on db (declared topology), 30s after it started alerting", "25s from the incident's other signals"]),
    (_cascade, sig("web", 130), 1, 2.0,
     ["web depends on (2 hops) db (declared topology), 130s after it started alerting",
      "125s from the incident's other signals"]),
    (_cause, sig("db", 20), 1, 3.057886,
     ["db is a dependency of api (declared topology), 20s after the incident started", "shares labels alertname=Err",
      "10s from the incident's other signals"]),
    (_labels, sig("b", 40_100.0, "IOErrors", volume="vol-7", zone="z1", rack="r9"), 31, 2.5,
     ["shares labels volume=vol-7, rack=r9, zone=z1", "100s from the incident's other signals"]),
    (_recurring, sig("batch", 1920, "BackupLate", instance="batch-1"), 1, 4.0,
     ["the same alert fired again, 30 min after its last signal (a recurring alert, alone in this incident)"]),
    (_learned, sig("worker", 100_040.0), 1, 3.210935,
     ["worker and queue alert together (learned, strength 1.00), 40s after it started alerting",
      "shares labels alertname=Err", "40s from the incident's other signals"]),
]


@pytest.mark.parametrize(("build", "signal", "group_id", "score", "reasons"), CASES)
def test_a_decision_gives_the_reasons_score_gives_for_its_incident(build, signal, group_id, score, reasons) -> None:  # noqa: ANN001
    c = build()
    d = c.decide(signal)
    assert (d.group_id, round(d.score, 6), d.reasons) == (group_id, score, reasons)
    if group_id is not None:
        assert c.score(signal, signal.fingerprint(), c.groups[group_id]) == (d.score, d.reasons)
