"""Values that stop arriving are drift: a feature sent as null in most live rows (a broken upstream join)
fired nothing, the rows left being too few for a verdict or distributed as before."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSample


def _monitor(reference: pd.DataFrame) -> tuple[InMemoryMonitoringStore, ModelMonitor]:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(reference)
    return store, monitor


def _rows(store: InMemoryMonitoringStore, n: int, missing_in_10: int, seed: int = 1) -> None:
    """``n`` rows, ``missing_in_10`` of every 10 without a value for x and c."""
    rng = np.random.default_rng(seed)
    now = time.time()
    store.add_samples([PredictionSample("m", f"r{seed}-{i}", 0, now + i / 1e3,
                                        {"x": None if i % 10 < missing_in_10 else float(v),
                                         "c": None if i % 10 < missing_in_10 else "a"}, 0)
                       for i, v in enumerate(rng.normal(size=n))])


def test_a_feature_gone_missing_in_most_rows_drifts_with_its_missing_share() -> None:
    rng = np.random.default_rng(0)
    store, monitor = _monitor(pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(["a", "a"], 1000)}))
    _rows(store, 300, missing_in_10=8)  # 8 rows in 10 arrive without x and c
    report, signals = monitor.check_drift()
    by_name = {f.feature: f for f in report.features}
    for name in ("x", "c"):
        assert by_name[name].drifted, by_name[name]
        assert by_name[name].statistics["missing_share"] == 0.8
        assert by_name[name].statistics["reference_missing_share"] == 0.0
    assert {s.labels["feature"] for s in signals if s.status == "firing"} == {"x", "c"}
    assert any("missing_share 0.8" in s.text for s in signals)


def test_a_feature_always_missing_drifts_although_no_value_is_left_to_compare() -> None:
    rng = np.random.default_rng(0)
    store, monitor = _monitor(pd.DataFrame({"x": rng.normal(size=1000), "c": ["a"] * 1000}))
    _rows(store, 100, missing_in_10=10)  # every value missing
    report, _ = monitor.check_drift()
    assert {f.feature for f in report.features if f.drifted} == {"x", "c"}


def test_missing_values_as_common_as_in_the_reference_are_no_drift() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    x[::4] = np.nan  # a quarter missing in training already
    store, monitor = _monitor(pd.DataFrame({"x": x}))
    _rows(store, 400, missing_in_10=0)
    store.add_samples([PredictionSample("m", f"n{i}", 0, time.time(), {"x": None if i % 4 == 0 else float(v)}, 0)
                       for i, v in enumerate(rng.normal(size=400))])
    report, _ = monitor.check_drift()
    assert report.drifted == []
