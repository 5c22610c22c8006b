"""A new version whose inputs lack a feature of the reference: while its samples and the previous version's
share the window, the feature is judged over the samples that carry it. Its absence from the new
version's rows counted as missing values: half the window "missing" fired a drift (an incident) for a
feature nobody sends any more, resolved again as ``not_served`` once the window held the new version only."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from opsloop.mlops.monitoring import ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore


def _traffic(store: MonitoringStore, version: str, features: tuple[str, ...], rows: int, start: float,
             rng: np.random.Generator) -> None:
    store.add_samples([PredictionSample("m", f"{version}-{i}", 0, start + i / 1e3,
                                        {f: float(rng.normal()) for f in features}, 0, version=version)
                       for i in range(rows)])


def test_a_feature_the_new_version_does_not_take_is_no_missing_value_drift(monitoring_store: MonitoringStore
                                                                            ) -> None:
    rng = np.random.default_rng(0)
    monitor = ModelMonitor(monitoring_store, "m")
    monitor.set_reference(pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)}))
    now = time.time()
    _traffic(monitoring_store, "v1", ("a", "b"), 300, now, rng)
    _traffic(monitoring_store, "v2", ("a",), 300, now + 1, rng)  # version 2 was trained without 'b'
    report, signals = monitor.check_drift()
    assert signals == [] and report.drifted == []
    b = next(f for f in report.features if f.feature == "b")
    assert b.current_rows == 300 and "missing_share" not in b.statistics


def test_a_feature_sent_as_null_is_still_missing(monitoring_store: MonitoringStore) -> None:
    rng = np.random.default_rng(1)
    monitor = ModelMonitor(monitoring_store, "m")
    monitor.set_reference(pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)}))
    now = time.time()
    monitoring_store.add_samples([PredictionSample("m", f"r{i}", 0, now + i / 1e3,
                                                   {"a": float(rng.normal()), "b": None if i % 2 else 1.0}, 0)
                                  for i in range(300)])
    report, _ = monitor.check_drift()
    assert "b" in report.drifted
