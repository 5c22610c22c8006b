"""A shift near the drift thresholds fired and resolved the feature's drift again and again as the window
rolled (each firing after a resolution is a new incident): a drifted feature now resolves only once it is
clearly back in line (``RESOLVE_RATIO`` of the thresholds; the tests' levels stay), as health
checks do with their resolve ratio."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from opsloop.core.signals import SignalKind
from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.drift import DriftPolicy


def _round(store: InMemoryMonitoringStore, rng: np.random.Generator, k: int, shift: float, rows: int) -> None:
    start = time.time() + k
    store.add_samples([PredictionSample("m", f"r{k}-{i}", 0, start + i / 1e4, {"x": float(v)}, 0)
                       for i, v in enumerate(rng.normal(shift, 1, rows))])


def test_a_shift_near_the_threshold_fires_once_and_resolves_once_it_is_gone() -> None:
    rng = np.random.default_rng(1)
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", drift_policy=DriftPolicy(window=3000))
    monitor.set_reference(pd.DataFrame({"x": rng.normal(size=5000)}))
    statuses = []
    for k in range(40):  # a shift of a quarter of a standard deviation: KS statistics about its 0.1 bound
        _round(store, rng, k, 0.25, 300)
        statuses += [s.status for s in monitor.check_drift()[1]]
    fired = [s for s in statuses if s == "firing"]
    assert fired, "the shift was never found"
    assert "resolved" not in statuses, statuses  # it fired and resolved over and over
    for k in range(40, 60):  # back to the reference's distribution: the window fills with it
        _round(store, rng, k, 0.0, 300)
        monitor.check_drift()
    newest = store.list_signals(model="m", kind=SignalKind.MODEL_DRIFT, limit=1)[0]
    assert newest.status == "resolved", newest.text


def test_unchanged_data_is_judged_with_the_policys_own_thresholds() -> None:
    rng = np.random.default_rng(2)
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", drift_policy=DriftPolicy(window=3000))
    monitor.set_reference(pd.DataFrame({"x": rng.normal(size=5000)}))
    for k in range(10):
        _round(store, rng, k, 0.0, 300)
        assert monitor.check_drift()[1] == []


def test_a_missing_share_near_its_bound_fires_once() -> None:
    """10 % of the values missing where the reference had none: the share is 0.1 above the reference's,
    on the bound, and crossed it back and forth as the window rolled."""
    rng = np.random.default_rng(3)
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", drift_policy=DriftPolicy(window=2000))
    monitor.set_reference(pd.DataFrame({"x": rng.normal(size=5000)}))
    statuses = []
    for k in range(40):
        start = time.time() + k
        store.add_samples([PredictionSample("m", f"r{k}-{i}", 0, start + i / 1e4,
                                            {"x": None if rng.random() < 0.1 else float(v)}, 0)
                           for i, v in enumerate(rng.normal(0, 1, 300))])
        statuses += [s.status for s in monitor.check_drift()[1]]
    assert "firing" in statuses and "resolved" not in statuses, statuses
