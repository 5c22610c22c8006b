"""ServiceWatch: a service's metrics as one vector per time bucket, scored by a multivariate detector."""

from __future__ import annotations

import math
import random

import pytest

import opsloop.aiops.detection as detection
from opsloop.aiops.detection import ServiceRule, ServiceWatch
from opsloop.core.signals import SignalKind
from opsloop.errors import InvalidInputError

T0 = 1_700_000_000.0


def _feed(watch: ServiceWatch, n: int, broken_at: int | None = None, seed: int = 0):
    rng = random.Random(seed)
    signals = []
    for i in range(n):
        load = 100 + 20 * math.sin(2 * math.pi * i / 60) + rng.gauss(0, 2)
        latency = 0.5 * load + rng.gauss(0, 1) + (60 if broken_at is not None and i >= broken_at else 0)
        for name, v in (("rps", load), ("latency_ms", latency), ("errors", rng.random())):
            labels = {"__name__": name, "service": "checkout", "pod": f"p{i % 3}"}
            signals += watch.observe(labels, T0 + 60 * i + rng.random() * 30, v)
    return signals


def test_service_vector_anomaly_is_one_signal_naming_the_metric():
    watch = ServiceWatch(
        [
            ServiceRule(
                "svc",
                '{service="checkout"}',
                detector={
                    "class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees",
                    "params": {"window_size": 100},
                },
            )
        ]
    )
    signals = _feed(watch, 1500, broken_at=1400)
    firing = [s for s in signals if s.status == "firing" and s.time >= T0 + 60 * 1400]
    assert len(watch) == 1 and len(firing) == 1
    sig = firing[0]
    assert sig.kind == SignalKind.METRIC_ANOMALY and sig.service == "checkout"
    assert next(iter(sig.evidence["deviations"])) == "latency_ms"
    assert set(sig.evidence["observed"]) == {"rps", "latency_ms", "errors"}


def test_service_watch_ignores_late_bad_and_unmatched_points():
    watch = ServiceWatch([ServiceRule("svc", '{service="checkout"}')], max_groups=2)
    assert watch.observe({"service": "other"}, T0, 1.0) == []
    watch.observe({"__name__": "a", "service": "checkout"}, T0 + 120, 1.0)
    assert watch.observe({"__name__": "a", "service": "checkout"}, T0, 1.0) == []  # late
    assert watch.observe({"__name__": "a", "service": "checkout"}, T0 + 130, "x") == []
    assert watch.observe({"__name__": "a", "service": "checkout"}, T0 + 140, math.nan) == []
    with pytest.raises(InvalidInputError):
        ServiceRule("bad", "{}", bucket=0)


def test_public_names_are_pinned():
    assert sorted(detection.__all__) == [
        "AnomalyLikelihood",
        "ChangePointDetector",
        "Forecast",
        "HalfSpaceTrees",
        "HysteresisAlerter",
        "LabelMatcher",
        "MetricWatch",
        "RangeNoveltyDetector",
        "ResonanceDetector",
        "SeasonalBaseline",
        "SeasonalTrendForecaster",
        "SequenceNoveltyDetector",
        "ServiceRule",
        "ServiceWatch",
        "TailCalibrator",
        "ThresholdPredictor",
        "UnivariateEnsemble",
        "VolatilityDetector",
        "WatchRule",
        "detect_period",
        "parse_selector",
    ]


@pytest.mark.parametrize(("doc", "field"), [
    ({"name": ["x"]}, "name"),
    ({"selector": 7}, "selector"),
    ({"group_by": "service"}, "group_by"),
    ({"group_by": [1]}, "group_by"),
    ({"bucket": "60"}, "bucket"),
    ({"bucket": -1}, "bucket"),
    ({"max_features": 0}, "max_features"),
    ({"alerter": {"on": "high"}}, "alerter"),
    ({"detector": {"class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees", "params": {"n_trees": "x"}}},
     "detector"),
    ({"detector": {"class": "nope.Nope", "params": {}}}, "detector.class"),
])
def test_bad_service_rules_are_refused_when_set(doc: dict, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        ServiceRule(**{"name": "svc", "selector": '{service="checkout"}', **doc})
    assert err.value.field.startswith(field) or err.value.field == "service_rules", err.value


def test_groups_follow_the_service_as_signals_name_it() -> None:
    # OTLP metrics carry the service as the resource attribute service.name
    watch = ServiceWatch([ServiceRule("svc", '{__name__=~"rps|latency_ms|errors"}')])
    for i in range(3):
        watch.observe({"__name__": "rps", "service.name": "checkout"}, T0 + 60 * i, 1.0)
    assert watch.groups() == [{"service": "checkout"}]
