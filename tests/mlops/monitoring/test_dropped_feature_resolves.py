"""A feature whose drift fired and that a check no longer sees — the reference was rebuilt without it,
or the served requests stopped carrying it — has its drift resolved, saying why; it is not left
firing for ever. Too few samples to tell still keep it firing, as for any check without a verdict."""

from __future__ import annotations

import pytest
from tests.mlops.monitoring.traffic import add_traffic, drift_states, reference_frame

from opsloop.core.signals import SignalKind
from opsloop.mlops.monitoring import DriftPolicy, ModelMonitor
from opsloop.mlops.monitoring.store import MonitoringStore


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    return monitoring_store


def _firing(store: MonitoringStore) -> set[str]:
    last: dict[str, str] = {}
    for s in store.list_signals(model="m", kind=SignalKind.MODEL_DRIFT, limit=500):
        last.setdefault(s.labels["feature"], s.status)
    return {f for f, status in last.items() if status == "firing"}


def test_a_drifted_feature_the_rebuilt_reference_lacks_is_resolved(store: MonitoringStore) -> None:
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(reference_frame(("a", "b")))
    add_traffic(store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    _, fired = monitor.check_drift()
    assert drift_states(fired) == {"b": "firing"}

    monitor.set_reference(reference_frame(("a",)))  # the new version's training data has no 'b'
    _, signals = monitor.check_drift()
    assert drift_states(signals) == {"b": "resolved"}
    (resolved,) = signals
    assert "no longer in the reference" in resolved.text
    assert resolved.evidence["reason"] == "not_in_reference"
    assert _firing(store) == set()
    _, again = monitor.check_drift()
    assert again == []  # resolved once, not at every check


def test_a_drifted_feature_the_served_requests_stopped_carrying_is_resolved(store: MonitoringStore) -> None:
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(reference_frame(("a", "b")))
    add_traffic(store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    assert drift_states(monitor.check_drift()[1]) == {"b": "firing"}

    # The model's inputs changed: requests carry only 'a' now (the window holds only those).
    window = ModelMonitor(store, "m", drift_policy=DriftPolicy(window=150))
    add_traffic(store, 150, {"a": 0.0}, seed=3)
    report, signals = window.check_drift()
    assert drift_states(signals) == {"b": "resolved"}
    assert "no longer in the served data" in signals[0].text
    assert signals[0].evidence["reason"] == "not_served"
    assert [f.note for f in report.features if f.feature == "b"] == ["not in the served data"]
    assert _firing(store) == set()


def test_too_few_samples_without_the_feature_keep_its_drift_firing(store: MonitoringStore) -> None:
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(reference_frame(("a", "b")))
    add_traffic(store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    assert drift_states(monitor.check_drift()[1]) == {"b": "firing"}

    add_traffic(store, 10, {"a": 0.0}, seed=3)  # fewer than min_rows: no verdict on 'b' yet
    window = ModelMonitor(store, "m", drift_policy=DriftPolicy(window=10))
    _, signals = window.check_drift()
    assert signals == [] and _firing(store) == {"b"}
