"""Drift statistics, streaming detectors, live performance and the signals they raise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsloop.core.detectors import DriftDetector, from_config
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.monitoring import (
    PREDICTION,
    InMemoryMonitoringStore,
    ModelMonitor,
    PageHinkley,
    PerformancePolicy,
    PredictionSample,
    WindowPSIDetector,
    build_profile,
    compute_drift,
    psi,
)


def reference(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": rng.normal(100, 10, n), "channel": rng.choice(["web", "app", "shop"], n),
                         "age": rng.integers(18, 80, n)})


def samples_from(frame: pd.DataFrame, model: str = "m", preds: np.ndarray | None = None) -> list[PredictionSample]:
    preds = np.zeros(len(frame)) if preds is None else preds
    return [PredictionSample(model, f"r{i}", 0, float(i), {k: (v.item() if hasattr(v, "item") else v)
                                                           for k, v in row.items()}, float(preds[i]))
            for i, row in enumerate(frame.to_dict(orient="records"))]


def test_psi_is_zero_for_equal_and_large_for_shifted() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)
    assert psi(np.array([0.5, 0.5]), np.array([0.9, 0.1])) > 0.5


def test_same_distribution_does_not_drift_and_shift_does() -> None:
    profile = build_profile(reference(), predictions=np.random.default_rng(1).random(3000))
    assert profile["features"]["amount"]["kind"] == "numeric"
    assert profile["features"]["channel"]["kind"] == "categorical"
    same = compute_drift("m", profile, samples_from(reference(800, seed=2)))
    assert same.drifted == [] or same.drifted == [PREDICTION]  # predictions were not served here
    shifted = reference(800, seed=3)
    shifted["amount"] += 15
    shifted["channel"] = np.where(np.arange(800) % 2 == 0, "shop", shifted["channel"])
    report = compute_drift("m", profile, samples_from(shifted, preds=np.random.default_rng(4).random(800)))
    assert set(report.drifted) == {"amount", "channel"}
    by = {f.feature: f for f in report.features}
    assert by["amount"].statistics["psi"] > 0.2 and by["amount"].statistics["ks_pvalue"] < 0.01
    assert by["channel"].statistics["jensen_shannon"] > 0.1 and by["channel"].kind == "categorical"
    assert not by["age"].drifted and not by[PREDICTION].drifted


def test_too_few_rows_gives_no_verdict() -> None:
    report = compute_drift("m", build_profile(reference()), samples_from(reference(10)))
    assert report.drifted == [] and all(f.note for f in report.features)


def test_empty_reference_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        build_profile(pd.DataFrame({"x": []}))


def drift_amount(monitor: ModelMonitor) -> None:
    """Give ``monitor`` a reference, then 600 served rows whose ``amount`` is 1.5 times larger: one
    drifted feature."""
    monitor.set_reference(reference())
    shifted = reference(600, seed=5)
    shifted["amount"] *= 1.5
    monitor.store.add_samples(samples_from(shifted, model=monitor.model))


def test_monitor_emits_firing_then_resolved_drift_signals() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "fraud")
    with pytest.raises(NotFoundError, match="no drift reference"):
        monitor.check_drift()
    drift_amount(monitor)
    _, signals = monitor.check_drift()
    assert [(s.labels["feature"], s.status, s.kind) for s in signals] == [("amount", "firing", "model_drift")]
    doc = signals[0].to_dict()
    assert doc["service"] == "fraud" and doc["source"] == "monitor:drift" and doc["values"]["psi"] > 0.2
    store.add_samples([PredictionSample("fraud", f"n{i}", 0, 1e6 + i, s.features, 0.0)
                       for i, s in enumerate(samples_from(reference(5000, seed=6)))])
    _, signals = monitor.check_drift()
    assert [(s.labels["feature"], s.status) for s in signals] == [("amount", "resolved")]
    assert len(store.list_signals(model="fraud", kind="model_drift")) == 2


def test_live_accuracy_breach_becomes_a_performance_signal() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", performance_policy=PerformancePolicy(min_accuracy=0.8, min_labels=10))
    store.add_samples([PredictionSample("m", f"r{i}", 0, float(i), {"x": 1.0}, i % 2) for i in range(40)])
    result = monitor.post_labels({"labels": [{"request_id": f"r{i}", "row": 0, "value": 1} for i in range(40)]})
    assert result == {"received": 40, "matched": 40}
    report, signals = monitor.check_performance()
    assert report.metrics["accuracy"] == pytest.approx(0.5) and report.task == "classification"
    assert signals[0].kind == "model_performance" and signals[0].status == "firing"
    # 20 of 40 right: at 99 % confidence the accuracy is at most 0.67, below the bound
    assert signals[0].values == pytest.approx({"observed": 0.5, "bound": 0.8, "upper_confidence": 0.6726}, abs=1e-4)
    monitor.post_labels({"labels": [{"request_id": f"r{i}", "row": 0, "value": i % 2} for i in range(40)]})
    _, signals = monitor.check_performance()
    assert [s.status for s in signals] == ["resolved"]


def test_regression_metrics_and_label_shapes() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "r", performance_policy=PerformancePolicy(max_rmse=0.5, min_labels=1))
    store.add_samples([PredictionSample("r", "q", i, 0.0, {}, 1.5 + i * 0.37) for i in range(30)])
    monitor.post_labels({"request_id": "q", "values": [1.5 + i * 0.37 + 2.0 for i in range(30)]})
    report, signals = monitor.check_performance()
    assert report.task == "regression" and report.metrics["mae"] == pytest.approx(2.0)
    assert signals[0].labels == {"model": "r", "metric": "rmse"}
    for bad in ({"x": 1}, {"labels": [{"row": 0}]}, {"labels": [{"request_id": "q", "value": 1, "row": -1}]}):
        with pytest.raises(InvalidInputError):
            monitor.post_labels(bad)


def test_streaming_detectors_follow_the_core_protocol() -> None:
    profile = build_profile(reference())["features"]["amount"]
    det = WindowPSIDetector(profile["edges"], profile["proportions"], window=200)
    assert isinstance(det, DriftDetector)
    rng = np.random.default_rng(7)
    for v in rng.normal(100, 10, 400):
        det.update(v)
    assert not det.drift_detected
    for v in rng.normal(130, 10, 200):
        det.update(v)
    assert det.drift_detected and det.value > 0.2
    clone = from_config(det.config())
    assert clone.get_params() == det.get_params()
    restored = det.clone()
    restored.load_state_dict(det.state_dict())
    assert restored.drift_detected == det.drift_detected
    ph = PageHinkley(threshold=5.0)
    fired = []
    for i in range(300):
        ph.update(0.1 if i < 200 else 0.9)
        fired.append(ph.drift_detected)
    assert not any(fired[:200]) and any(fired[200:])


def test_a_serving_monitor_writes_pending_samples_before_labels_and_checks() -> None:
    """``opsloop serve --monitor-store``: labels posted right after scoring match (the sampler writes
    every second in the background; the API writes what is pending first)."""
    from starlette.testclient import TestClient
    from tests._models import sampled_request

    from opsloop.mlops.monitoring.service import MonitorConfig

    running = MonitorConfig(store_url="memory://", model_name="fraud", sample_rate=1.0).build(model=None)
    model, data = sampled_request()
    running.recorder.record("req-1", "champion", model, data, np.asarray([0, 1]))  # no writer thread started
    with TestClient(running.app) as http:
        r = http.post("/labels", json={"request_id": "req-1", "values": [0, 0]})
        assert r.json() == {"received": 2, "matched": 2}
        assert http.get("/monitoring/performance").json()["report"]["labelled"] == 2


def test_small_windows_of_undrifted_traffic_rarely_drift_and_a_real_shift_still_does() -> None:
    """PSI between two samples of one distribution is about (bins - 1)(1/n + 1/N) by chance; the
    threshold counts a shift beyond that. Before, one 100-row window of undrifted traffic in seven drifted."""
    rng = np.random.default_rng(7)
    profile = build_profile(pd.DataFrame({"x": rng.normal(size=1000), "y": rng.normal(size=1000)}))

    def drifted(seed: int, shift: float) -> bool:
        r = np.random.default_rng(seed)
        window = pd.DataFrame({"x": r.normal(size=100) + shift, "y": r.normal(size=100)})
        return bool(compute_drift("m", profile, samples_from(window)).drifted)

    assert sum(drifted(seed, 0.0) for seed in range(100)) <= 7  # 14 of these 100 windows drifted before (6 now)
    assert sum(drifted(seed, 0.5) for seed in range(100)) >= 90  # half a standard deviation: still found
