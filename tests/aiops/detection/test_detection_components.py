"""Behaviour of the detection building blocks: period detection, calibration, alerting, drift shape."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from tests.aiops.detection._series import seasonal_series

from opsloop.aiops.detection import HysteresisAlerter, SeasonalBaseline, TailCalibrator, detect_period
from opsloop.aiops.detection.seasonal import _phase_medians
from opsloop.core.detectors import DriftDetector, from_config
from opsloop.core.signals import SignalKind
from opsloop.errors import InvalidInputError


@pytest.mark.parametrize("period", [7, 24, 96])
def test_period_is_detected_on_a_noisy_cycle(period):
    assert detect_period(np.array(seasonal_series(period * 12, period=period, noise=0.5))) == period


def test_period_of_noise_trend_or_random_walk_is_none():
    rng = np.random.default_rng(0)
    assert detect_period(rng.normal(size=800)) == 1
    assert detect_period(np.cumsum(rng.normal(size=800))) == 1
    assert detect_period(np.arange(800.0)) == 1
    assert detect_period(np.array([1.0])) == 1


def test_seasonal_baseline_learns_the_cycle_and_its_band():
    det = SeasonalBaseline(first_detection=128)
    values = seasonal_series(1000, period=48, noise=0.1)
    for i, v in enumerate(values):
        det.score_one(v, 60.0 * i)
        det.learn_one(v, 60.0 * i)
    assert det.period == 48
    det.score_one(0.0, 60.0 * 1000)
    expected, low, high = det.expected_band()
    assert abs(expected - values[1000 - 48]) < 0.6 and low < expected < high


@pytest.mark.parametrize(("period", "cycles"), [(1, 9), (7, 4), (24, 5), (48, 1)])
def test_phase_medians_of_whole_cycles_equal_one_median_per_phase(period, cycles):
    rng = np.random.default_rng(period)
    for values in (rng.normal(size=period * cycles), rng.integers(0, 3, size=period * cycles).astype(float)):
        phases = (np.arange(len(values)) + 13) % period
        expected = [np.median(values[phases == ph]) for ph in range(period)]
        assert _phase_medians(values, phases, period).tolist() == expected
    # less than a cycle: the phases without a value get the overall median
    partial = rng.normal(size=max(period - 2, 1))
    phases = (np.arange(len(partial)) + 5) % period
    expected = [
        np.median(partial[phases == ph]) if ph in phases else np.median(partial) for ph in range(period)
    ]
    assert _phase_medians(partial, phases, period).tolist() == expected


def test_calibrated_tail_separates_outliers_beyond_anything_seen():
    cal = TailCalibrator()
    rng = random.Random(1)
    for _ in range(2000):
        cal.learn_one(abs(rng.gauss(0, 1)))
    assert cal.probability(0.1) < 0.2
    assert 0.9 < cal.probability(2.5) < cal.probability(6.0) < cal.probability(12.0) < 1.0


@pytest.mark.parametrize("tail", ["exponential", "pareto"])
def test_calibrated_probability_of_a_score_at_or_below_the_lowest_bin_is_zero(tail):
    # the range-novelty detector answers 0 for a value inside its marks without asking: it relies on this
    cal = TailCalibrator(tail=tail)
    rng = random.Random(2)
    for _ in range(500):
        cal.learn_one(0.0 if rng.random() < 0.7 else abs(rng.gauss(0, 1)))
    assert cal.probability(1.0) > 0.0
    assert cal.probability(0.0) == cal.probability(-0.0) == cal.probability(2.0**-10) == 0.0


def test_hysteresis_gives_one_signal_per_episode_with_evidence():
    alerter = HysteresisAlerter(on=0.99, off=0.9, clear_after=3, refractory=0)
    probs = [0.1, 0.995, 0.95, 0.985, 0.999, 0.5, 0.5, 0.5, 0.2, 0.999]
    statuses = [alerter.step(p) for p in probs]
    assert statuses.count("firing") == 2 and statuses.count("resolved") == 1
    alerter = HysteresisAlerter(on=0.99, off=0.9, clear_after=3, refractory=20)
    assert [alerter.step(p) for p in probs].count("firing") == 1  # same incident, paged once
    alerter = HysteresisAlerter(on=0.99, off=0.9)
    sig = alerter.update(0.9999, 100.0, 42.0, (10.0, 8.0, 12.0), {"__name__": "cpu"}, "api")
    assert sig.kind == SignalKind.METRIC_ANOMALY and sig.service == "api"
    assert sig.values["observed"] == 42.0 and sig.values["expected_high"] == 12.0
    assert sig.evidence["expected_band"] == [10.0, 8.0, 12.0]


def test_hysteresis_thresholds_are_checked():
    with pytest.raises(InvalidInputError):
        HysteresisAlerter(on=0.5, off=0.9)


class _PageHinkley(DriftDetector):
    """A minimal drift detector written against the sibling protocol."""

    def __init__(self, delta: float = 0.01, threshold: float = 5.0) -> None:
        self.delta = delta
        self.threshold = threshold
        self._mean = 0.0
        self._n = 0
        self._cum = 0.0
        self._min = 0.0
        self._drift = False

    def update(self, x: float) -> None:
        self._n += 1
        self._mean += (x - self._mean) / self._n
        self._cum += x - self._mean - self.delta
        self._min = min(self._min, self._cum)
        self._drift = self._cum - self._min > self.threshold
        if self._drift:
            self._n, self._mean, self._cum, self._min = 0, 0.0, 0.0, 0.0

    @property
    def drift_detected(self) -> bool:
        return self._drift


def test_drift_detectors_share_the_checkpoint_and_config_contract():
    det = _PageHinkley()
    flags = []
    for i in range(400):
        det.update(0.0 if i < 200 else 1.0)
        flags.append(det.drift_detected)
    assert not any(flags[:200]) and any(flags[200:])
    copy = from_config(det.config())
    copy.load_state_dict(json.loads(json.dumps(det.state_dict())))
    for x in [1.0, 3.0, 3.0, 3.0]:
        det.update(x)
        copy.update(x)
        assert det.drift_detected == copy.drift_detected
    assert not math.isnan(det._mean)


def test_a_series_that_keeps_alerting_needs_stronger_evidence():
    alerter = HysteresisAlerter(on=0.999, off=0.9, clear_after=1, refractory=0, fatigue=0.1)
    fired = []
    for _ in range(3):
        fired.append(alerter.step(0.9995))
        alerter.step(0.0)
    assert fired == ["firing", None, None]
    assert alerter.step(0.999999) == "firing"  # a far stronger anomaly still pages
    calm = HysteresisAlerter(on=0.999, off=0.9, clear_after=1, refractory=0, fatigue=0.1, fatigue_halflife=10)
    calm.step(0.9995)
    for _ in range(200):
        calm.step(0.0)
    assert calm.step(0.9995) == "firing"  # the memory of past alerts fades


def test_confirmation_waits_and_reports_the_peak():
    alerter = HysteresisAlerter(on=0.99, off=0.9, refractory=0, confirm=2)
    assert [alerter.step(p) for p in (0.995, 0.9999, 0.5)] == [None, None, "firing"]
    assert alerter.peak == 0.9999
