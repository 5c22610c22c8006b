"""A model is due for a scheduled drift check when a check would compare something the last one did
not: a newer sample, or another reference (a new revision). The store keeps what each check compared
(its report), so every process, and any restart, sees the same. Run on every backend."""

from __future__ import annotations

import pytest
from tests.mlops.monitoring.traffic import add_traffic, drift_states, reference_frame

from opsloop.core.signals import Signal
from opsloop.mlops.monitoring import ModelMonitor, PredictionSampler, ServingMonitor
from opsloop.mlops.monitoring.store import MonitoringStore


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    return monitoring_store


def test_a_model_is_due_when_its_samples_or_its_reference_changed(store: MonitoringStore) -> None:
    monitor = ModelMonitor(store, "m")
    assert not monitor.drift_due()  # no reference: nothing to check
    monitor.set_reference(reference_frame(("a",)))
    assert monitor.drift_due()  # never checked
    add_traffic(store, 100, {"a": 0.0}, seed=2)
    report, _ = monitor.check_drift()
    assert report.reference_revision == (store.get_reference("m") or {})["revision"]
    assert report.newest_sample_time == store.list_samples("m", limit=1)[0].time
    assert not monitor.drift_due()
    assert not ModelMonitor(store, "m").drift_due()  # another process reads the same from the store

    add_traffic(store, 1, {"a": 0.0}, seed=3)
    assert monitor.drift_due()
    monitor.check_drift()
    assert not monitor.drift_due()
    monitor.set_reference(reference_frame(("a",), seed=4))
    assert monitor.drift_due()
    monitor.check_drift()
    assert not monitor.drift_due()


def test_a_serving_monitors_schedule_sends_a_drift_that_did_not_change_once(store: MonitoringStore) -> None:
    sent: list[Signal] = []

    def serving() -> ServingMonitor:  # ``opsloop serve``'s schedule, started again at each call
        monitor = ModelMonitor(store, "m")
        monitor.on_signals = sent.extend
        return ServingMonitor(monitor, PredictionSampler(store, "m"), app=None, interval=0)

    running = serving()
    running.monitor.set_reference(reference_frame(("a", "b")))
    add_traffic(store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    running.check_now()
    assert drift_states(sent) == {"b": "firing"}
    running.check_now()
    serving().check_now()  # restarted
    assert len(sent) == 1
