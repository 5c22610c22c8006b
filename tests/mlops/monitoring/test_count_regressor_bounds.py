"""A regressor answering whole numbers of few values (a count: 0-9 items) was measured as a classifier
(accuracy), so the ``max_mae``/``max_rmse`` bound set with its reference was never checked: an MAE of 5
against a bound of 2 sent nothing. A policy bounding only MAE or RMSE says the model is a regressor."""

from __future__ import annotations

import time

import numpy as np

from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.performance import PerformancePolicy


def _labelled_counts(store: InMemoryMonitoringStore, off_by: tuple[int, int]) -> list[float]:
    """200 count predictions (0-9) with labels ``off_by`` items more; the absolute errors."""
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 10, 200)
    labels = preds + rng.integers(*off_by, 200)
    now = time.time()
    store.add_samples([PredictionSample("m", f"r{i}", 0, now, {"x": 1.0}, int(p)) for i, p in enumerate(preds)])
    ModelMonitor(store, "m").post_labels({"labels": [{"request_id": f"r{i}", "value": int(y)}
                                                     for i, y in enumerate(labels)]})
    return [float(abs(y - p)) for p, y in zip(preds, labels, strict=True)]


def test_a_count_regressors_mae_bound_is_checked() -> None:
    store = InMemoryMonitoringStore()
    errors = _labelled_counts(store, (3, 8))
    monitor = ModelMonitor(store, "m", performance_policy=PerformancePolicy(max_mae=2.0))
    report, signals = monitor.check_performance()
    assert report.task == "regression"
    assert report.metrics["mae"] == sum(errors) / len(errors)
    assert [(s.labels["metric"], s.status) for s in signals] == [("mae", "firing")]


def test_a_classifier_with_an_accuracy_bound_is_still_measured_by_accuracy() -> None:
    store = InMemoryMonitoringStore()
    _labelled_counts(store, (0, 1))  # every label equals its prediction
    report, signals = ModelMonitor(store, "m", performance_policy=PerformancePolicy(min_accuracy=0.9)
                                   ).check_performance()
    assert report.task == "classification" and report.metrics["accuracy"] == 1.0 and signals == []
