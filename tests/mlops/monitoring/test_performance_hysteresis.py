"""A live accuracy whose confidence limit sat near its bound breached and recovered as labels came (each
breach after a recovery a new incident): a breach once sent now lasts while the observed value is past
the bound, and resolves once it is back within it."""

from __future__ import annotations

import time

import numpy as np

from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.performance import PerformancePolicy


def _labelled_round(store: InMemoryMonitoringStore, monitor: ModelMonitor, rng: np.random.Generator, k: int,
                    accuracy: float) -> None:
    rows = []
    for i in range(100):
        y = int(rng.integers(0, 2))
        rows.append((f"r{k}-{i}", y if rng.random() < accuracy else 1 - y, y))
    start = time.time() + k
    store.add_samples([PredictionSample("m", r, 0, start + i / 1e4, {"x": 1.0}, p) for i, (r, p, _) in enumerate(rows)])
    monitor.post_labels({"labels": [{"request_id": r, "value": y} for r, _, y in rows]})


def test_an_accuracy_near_its_bound_breaches_once_and_resolves_when_back() -> None:
    rng = np.random.default_rng(5)
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", performance_policy=PerformancePolicy(min_accuracy=0.9, window=1000))
    statuses = []
    for k in range(40):  # 87 % against a bound of 90 %: about the confidence limit over 1,000 labels
        _labelled_round(store, monitor, rng, k, 0.87)
        statuses += [s.status for s in monitor.check_performance()[1]]
    assert statuses and set(statuses) == {"firing"}, statuses
    for k in range(40, 55):  # the model is as good as its bound again
        _labelled_round(store, monitor, rng, k, 0.97)
        monitor.check_performance()
    report, _ = monitor.check_performance(emit=False)
    assert report.metrics["accuracy"] >= 0.9 and report.breaches == {}
    newest = store.list_signals(model="m", kind="model_performance", limit=1)[0]
    assert newest.status == "resolved"
