"""Threshold rules, over their bound of series in breach, forget the least recently seen ones, not the
first that breached: a series firing since before a wave of short breaches (pods come and go) was
forgotten and, back within bounds, never resolved its alert."""

from __future__ import annotations

from opsloop.aiops.ingestion.metric_rules import ThresholdRule, ThresholdWatch


def test_a_firing_series_is_not_forgotten_for_newer_quiet_ones() -> None:
    rule = ThresholdRule.from_dict({"name": "HighLoad", "selector": "load", "above": 5})
    watch = ThresholdWatch([rule], max_series=20)
    busy = {"__name__": "load", "instance": "db-1"}
    t = 1000.0
    [fired] = watch.observe(busy, t, 9.0)
    assert fired.status == "firing"
    for i in range(60):  # it keeps breaching while other pods breach once and go away
        t += 10
        assert watch.observe(busy, t, 9.0) == []
        watch.observe({"__name__": "load", "instance": f"pod-{i}"}, t, 7.0)
    [resolved] = watch.observe(busy, t + 10, 1.0)
    assert resolved.status == "resolved" and resolved.labels["instance"] == "db-1"
