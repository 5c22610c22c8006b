"""A live-performance bound is breached only when the metric is past it with the policy's confidence:
a model near its bound is not observed below it by the chance of which few rows got labels."""

from __future__ import annotations

import numpy as np

from opsloop.mlops.monitoring.performance import PerformancePolicy, live_performance
from opsloop.mlops.monitoring.records import PredictionSample


def _classified(rng: np.random.Generator, n: int, accuracy: float) -> list[PredictionSample]:
    right = rng.random(n) < accuracy
    return [PredictionSample("m", f"r{i}", 0, float(i), {}, 1, label=1 if ok else 0) for i, ok in enumerate(right)]


def _regressed(rng: np.random.Generator, n: int, scale: float) -> list[PredictionSample]:
    err = rng.normal(0.0, scale, n)
    return [PredictionSample("r", f"q{i}", 0, float(i), {}, 10.0 + e, label=10.0) for i, e in enumerate(err)]


def test_a_model_just_above_its_bound_does_not_breach_by_chance() -> None:
    rng = np.random.default_rng(3)
    policy = PerformancePolicy(min_accuracy=0.9)
    windows = [live_performance("m", _classified(rng, n, 0.93), policy) for n in (30, 50, 100, 200) for _ in range(50)]
    below = sum(r.metrics["accuracy"] < 0.9 for r in windows)
    assert below >= 10  # observed below the bound often (the old rule breached each time)
    assert sum(bool(r.breaches) for r in windows) <= 2
    # the observed value alone, as before
    point = PerformancePolicy(min_accuracy=0.9, confidence=0)
    assert sum(bool(live_performance("m", _classified(rng, 50, 0.93), point).breaches) for _ in range(50)) >= 5


def test_a_model_clearly_below_its_bound_breaches_with_its_confidence_bound() -> None:
    rng = np.random.default_rng(4)
    report = live_performance("m", _classified(rng, 50, 0.6), PerformancePolicy(min_accuracy=0.9))
    breach = report.breaches["accuracy"]
    assert breach["observed"] < breach["upper_confidence"] < 0.9 == breach["bound"]


def test_regression_errors_breach_only_beyond_chance() -> None:
    rng = np.random.default_rng(5)
    policy = PerformancePolicy(max_mae=0.85, max_rmse=1.05)  # errors of scale 1: MAE 0.80, RMSE 1.0
    near = [live_performance("r", _regressed(rng, 40, 1.0), policy) for _ in range(50)]
    assert sum(bool(r.breaches) for r in near) <= 2
    far = live_performance("r", _regressed(rng, 40, 2.0), policy)
    assert set(far.breaches) == {"mae", "rmse"}
    assert far.breaches["rmse"]["lower_confidence"] > 1.05
