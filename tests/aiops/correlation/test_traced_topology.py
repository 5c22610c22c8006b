"""``Topology.set_traced``: edges seen in traces count like declared ones, and each set keeps the other."""

from __future__ import annotations

from opsloop.aiops.correlation import Correlator, Topology
from opsloop.core.signals import Severity, Signal


def test_traced_edges_join_the_declared_ones_without_replacing_them() -> None:
    topo = Topology([("web", "api")])
    topo.set_traced([("api", "db"), ("db", "db"), ("", "x")])
    assert topo.depends_on("web", "api") and topo.depends_on("api", "db") and not topo.depends_on("db", "db")
    assert topo.distance("web", "db") == 2 and topo.knows("db")
    assert topo.dependents("db") == {"api": 1, "web": 2}
    assert topo.declared() == [("web", "api")]  # what the API lists as declared is unchanged
    topo.set_declared([("shop", "payments")])
    assert topo.depends_on("api", "db") and not topo.depends_on("web", "api")
    topo.set_traced([])
    assert not topo.depends_on("api", "db") and topo.depends_on("shop", "payments")
    assert topo.distance("api", "db") is None


def test_a_traced_edge_set_after_a_decision_counts_from_the_next_one() -> None:
    topo = Topology()
    c = Correlator(topo)
    first = Signal(time=0, source="t", service="db", labels={"alertname": "Down", "service": "db"},
                   severity=Severity.ERROR, text="Down on db")
    c.observe(first)
    c.add(1, first)
    later = Signal(time=20, source="t", service="api", labels={"alertname": "Slow", "service": "api"},
                   severity=Severity.ERROR, text="Slow on api")
    untraced = c.decide(later)  # nothing known of either service: only time proximity
    assert untraced.group_id == 1 and untraced.reasons[0].endswith("(no known dependency: time proximity)")
    topo.set_traced([("api", "db")])
    d = c.decide(later)
    assert d.group_id == 1 and "api depends on db (traced calls), 20s after it started alerting" in d.reasons
    topo.set_declared([("web", "api")])  # a path through a declared and a traced edge says so
    web = Signal(time=30, source="t", service="web", labels={"alertname": "Slow", "service": "web"},
                 severity=Severity.ERROR, text="Slow on web")
    assert any("web depends on (2 hops) db (declared topology and traced calls)" in r for r in c.decide(web).reasons)
    topo.set_declared([("api", "db")])  # declared as well as traced: the declaration is named
    assert "api depends on db (declared topology), 20s after it started alerting" in c.decide(later).reasons
