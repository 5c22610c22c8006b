"""MetricWatch routing, signals and checkpoints; forecasts and predictive signals."""

from __future__ import annotations

import json
import math
import random

import pytest
from tests.aiops.detection._series import seasonal_series

from opsloop.aiops.detection import MetricWatch, SeasonalTrendForecaster, WatchRule, parse_selector
from opsloop.core.signals import SignalKind
from opsloop.errors import InvalidInputError

T0 = 1_700_000_000.0


def test_selector_parsing_and_matching():
    ms = parse_selector('http_latency{service="api", path=~"/v1/.*", env!="dev"}')
    assert [m.op for m in ms] == ["=", "=", "=~", "!="]
    rule = WatchRule("r", 'http_latency{service="api", path=~"/v1/.*", env!="dev"}')
    assert rule.matches({"__name__": "http_latency", "service": "api", "path": "/v1/x", "env": "prod"})
    assert not rule.matches({"__name__": "http_latency", "service": "api", "path": "/v2/x"})
    assert WatchRule("all", '{job=~".+"}').matches({"job": "node"})
    with pytest.raises(InvalidInputError):
        parse_selector('cpu{job="x"')


def test_watch_routes_series_and_emits_one_anomaly_signal_with_evidence():
    watch = MetricWatch([WatchRule("latency", 'latency{service="api"}')])
    values = seasonal_series(1200, period=60, seed=2)
    values[1000] += 15
    signals = []
    for i, v in enumerate(values):
        signals += watch.observe({"__name__": "latency", "service": "api", "pod": "a"}, T0 + 60 * i, v)
        signals += watch.observe({"__name__": "other", "service": "api"}, T0 + 60 * i, v)
    firing = [s for s in signals if s.status == "firing"]
    # calibrated at p >= 0.9995 per point, a clean series may still give a rare false alarm
    assert len(watch) == 1 and 1 <= len(firing) <= 2
    sig = next(s for s in firing if s.time == T0 + 60 * 1000)
    assert sig.kind == SignalKind.METRIC_ANOMALY
    assert sig.service == "api" and sig.labels["rule"] == "latency"
    assert sig.values["observed"] == values[1000]
    assert sig.values["expected_low"] < values[1000 - 60] < sig.values["expected_high"]


def test_watch_bounds_series_and_ignores_unparseable_values():
    watch = MetricWatch([WatchRule("any", '{job="x"}')], max_series=5)
    for i in range(50):
        watch.observe({"job": "x", "id": str(i)}, T0 + i, 1.0)
    assert len(watch) == 5
    assert watch.observe({"job": "x", "id": "49"}, T0 + 99, "oops") == []
    assert watch.observe({"job": "x", "id": "49"}, T0 + 100, None) == []


def test_watch_checkpoint_resumes_every_series():
    rules = [WatchRule("any", '{job="x"}', predict={"threshold": 1e9, "horizon": 3600})]
    watch = MetricWatch(rules)
    rng = random.Random(0)
    for i in range(400):
        for s in "ab":
            watch.observe({"job": "x", "s": s}, T0 + 60 * i, rng.gauss(0, 1))
    restored = MetricWatch(rules)
    restored.load_state_dict(json.loads(json.dumps(watch.state_dict())))
    for i in range(400, 600):
        v = rng.gauss(0, 1) + (9 if i == 500 else 0)
        a = watch.observe({"job": "x", "s": "a"}, T0 + 60 * i, v)
        b = restored.observe({"job": "x", "s": "a"}, T0 + 60 * i, v)
        assert [x.to_dict() for x in a] == [x.to_dict() for x in b]


def test_forecast_intervals_cover_a_seasonal_series_and_beat_naive():
    values = seasonal_series(1400, period=48, noise=0.3, seed=4)
    fc_model = SeasonalTrendForecaster(first_detection=128)
    for i, v in enumerate(values[:1300]):
        fc_model.learn_one(v, T0 + 60 * i)
    fc = fc_model.forecast(48)
    actual = values[1300:1348]
    inside = sum(lo <= a <= hi for a, lo, hi in zip(actual, fc.low, fc.high, strict=True))
    assert fc_model.period == 48 and inside >= 40
    err = sum(abs(a - m) for a, m in zip(actual, fc.mean, strict=True))
    naive = sum(abs(a - values[1299]) for a in actual)
    assert err < naive / 2


def test_disk_full_is_predicted_once_before_it_happens():
    rule = WatchRule("disk", 'disk_used_ratio{mount="/"}', predict={"threshold": 0.95, "horizon": 6 * 3600})
    watch = MetricWatch([rule])
    rng = random.Random(7)
    signals = []
    for i in range(2000):  # fills at 0.0004 per minute: crosses 0.95 around minute 2000
        v = 0.15 + 0.0004 * i + rng.gauss(0, 0.002)
        # labelled as OTLP names a resource's service: the signal (and so its incident) is that service's
        signals += watch.observe({"__name__": "disk_used_ratio", "mount": "/", "service.name": "db"}, T0 + 60 * i, v)
    preds = [s for s in signals if s.kind == SignalKind.PREDICTION]
    assert len(preds) == 1
    p = preds[0]
    assert p.service == "db"
    assert 0 < p.values["eta_seconds"] <= 6 * 3600
    assert p.time < T0 + 60 * 2000 - 3 * 3600  # warned hours ahead
    assert p.evidence["forecast"]["mean"] and p.evidence["horizon_seconds"] == 6 * 3600


def test_a_prediction_that_no_longer_holds_resolves_with_a_readable_eta():
    rule = WatchRule("disk", 'disk_used_ratio{mount="/"}', predict={"threshold": 0.95, "horizon": 6 * 3600})
    watch = MetricWatch([rule])
    rng = random.Random(11)
    labels = {"__name__": "disk_used_ratio", "mount": "/", "service": "db"}
    signals = []
    for i in range(1500):  # fills towards 0.95, then is cleaned up at minute 1500 and stays flat
        v = 0.15 + 0.0006 * i + rng.gauss(0, 0.002) if i < 1200 else 0.3 + rng.gauss(0, 0.002)
        signals += watch.observe(labels, T0 + 60 * i, v)
    preds = [s for s in signals if s.kind == SignalKind.PREDICTION]
    assert [s.status for s in preds] == ["firing", "resolved"]
    firing, resolved = preds
    assert firing.time < T0 + 60 * 1200 < resolved.time
    assert resolved.fingerprint() == firing.fingerprint()  # the same condition: it resolves the firing one
    assert resolved.text == "disk_used_ratio no longer forecast to reach 0.95 within 6.0 h"
    eta = firing.values["eta_seconds"]
    assert firing.text.endswith(f"in {eta / 3600:.1f} h") and 90 * 60 <= eta < 48 * 3600


def test_a_near_crossing_reads_in_minutes():
    rule = WatchRule("free", "free_bytes", predict={"threshold": 1e10, "horizon": 600, "above": False})
    watch = MetricWatch([rule])
    signals = []
    for i in range(600):  # 200 MB less every second
        signals += watch.observe({"__name__": "free_bytes"}, T0 + i, 5e10 - 2e8 * i)
    [pred] = [s for s in signals if s.kind == SignalKind.PREDICTION]
    eta = pred.values["eta_seconds"]
    unit = "s" if eta < 90 else "min"
    assert pred.text == f"free_bytes forecast to fall to 1e+10 in {eta / (1 if unit == 's' else 60):.0f} {unit}"


def test_forecast_needs_a_positive_horizon():
    with pytest.raises(InvalidInputError):
        SeasonalTrendForecaster().forecast(0)


@pytest.mark.parametrize(
    "values",
    [
        [1.0, math.nan, 2.0, math.inf, -math.inf, 1.5] * 100,
        [3.0],
        [7.0] * 600,
        [1e300, -1e300, 1e-300, 0.0] * 100,
    ],
)
def test_forecaster_survives_bad_values(values):
    model = SeasonalTrendForecaster(first_detection=64)
    for i, v in enumerate(values):
        model.learn_one(v, T0 + 60 * i)
    fc = model.forecast(10)
    assert len(fc.mean) == 10 and all(
        lo <= m <= hi or math.isnan(m) for m, lo, hi in zip(fc.mean, fc.low, fc.high, strict=True)
    )


def test_forecaster_keeps_the_cycle_across_gaps_and_disorder():
    rng = random.Random(9)
    slots = [i + (360 if i >= 1000 else 0) for i in range(1500)]  # a 6 h gap of 360 samples

    def wave(k: int) -> float:
        return 10.0 + 3.0 * math.sin(2 * math.pi * k / 48)

    values = [wave(k) + rng.gauss(0, 0.1) for k in slots]
    times = [T0 + 60 * k for k in slots]
    times[1200], times[1201] = times[1201], times[1200]
    times[1300] = times[1299]
    model = SeasonalTrendForecaster(first_detection=128)
    for v, t in zip(values, times, strict=True):
        model.learn_one(v, t)
    fc = model.forecast(48)
    truth = [wave(slots[-1] + 1 + k) for k in range(48)]
    assert sum(abs(a - m) for a, m in zip(truth, fc.mean, strict=True)) / 48 < 0.6


def test_constant_series_raises_no_predictive_storm():
    rule = WatchRule("disk", '{job="x"}', predict={"threshold": 0.9, "horizon": 3600})
    watch = MetricWatch([rule])
    signals = []
    for i in range(1000):
        signals += watch.observe({"job": "x"}, T0 + 60 * i, 0.5)
    assert signals == []


def test_watch_survives_bad_input_without_an_alert_storm():
    rule = WatchRule("all", '{job="x"}', predict={"threshold": 1e12, "horizon": 3600})
    watch = MetricWatch([rule])
    rng = random.Random(3)
    signals = []
    feeds = {
        "nan_inf": [(T0 + 60 * i, [1.0, math.nan, math.inf, -math.inf][i % 4]) for i in range(2000)],
        "one_point": [(T0, 5.0)],
        "constant": [(T0 + 60 * i, 3.0) for i in range(2000)],
        "disorder": [
            (T0 + 60 * (i - (i % 7 == 0)) + (86400 if i > 1000 else 0), rng.gauss(50, 1)) for i in range(2000)
        ],
        "duplicates": [(T0 + 60 * (i // 2), rng.gauss(50, 1)) for i in range(2000)],
        "unit_change": [(T0 + 60 * i, rng.gauss(5, 0.1) * (1000 if i >= 1200 else 1)) for i in range(2400)],
    }
    for name, points in feeds.items():
        for t, v in points:
            signals += watch.observe({"job": "x", "case": name}, t, v)
    firing = [s for s in signals if s.status == "firing"]
    per_case = {name: sum(s.labels["case"] == name for s in firing) for name in feeds}
    assert per_case["constant"] == per_case["one_point"] == per_case["nan_inf"] == 0
    # white noise itself gives about one false alarm per 800 points at the default threshold;
    # disorder, duplicates and the unit change must not add a storm on top of that
    assert per_case["unit_change"] >= 1 and all(n <= 6 for n in per_case.values()), per_case
