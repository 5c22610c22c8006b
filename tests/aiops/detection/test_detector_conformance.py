"""One contract, checked on every anomaly detector (river-style generic checks)."""

from __future__ import annotations

import json
import math

import pytest
from tests.aiops.detection._series import metric_points, seasonal_series

from opsloop.aiops.detection import (
    ChangePointDetector,
    HalfSpaceTrees,
    HysteresisAlerter,
    RangeNoveltyDetector,
    ResonanceDetector,
    SeasonalBaseline,
    SequenceNoveltyDetector,
    UnivariateEnsemble,
    VolatilityDetector,
)
from opsloop.core.detectors import AnomalyDetector, from_config
from opsloop.errors import InvalidInputError

T0 = 1_700_000_000.0
STEP = 60.0

UNIVARIATE = [
    pytest.param(lambda: SeasonalBaseline(first_detection=128), id="seasonal"),
    pytest.param(lambda: ChangePointDetector(), id="changepoint"),
    pytest.param(lambda: UnivariateEnsemble(seasonal={"first_detection": 128}), id="ensemble"),
    pytest.param(
        lambda: UnivariateEnsemble(seasonal={"first_detection": 128}, absorb_shifts=True),
        id="ensemble_absorbing_shifts",
    ),
    pytest.param(
        lambda: UnivariateEnsemble(seasonal={"first_detection": 128}, combine="max", volatility=True),
        id="ensemble_max_with_volatility",
    ),
]
SINGLE_PURPOSE = [
    pytest.param(lambda: VolatilityDetector(), id="volatility"),
    pytest.param(lambda: RangeNoveltyDetector(warmup=50), id="range_novelty"),
    pytest.param(lambda: SequenceNoveltyDetector(warmup=50), id="sequence_novelty"),
    pytest.param(
        lambda: UnivariateEnsemble(seasonal={"first_detection": 128}, sequence=True),
        id="ensemble_with_sequence",
    ),
    pytest.param(lambda: ResonanceDetector(warmup=20), id="resonance"),
    pytest.param(
        lambda: UnivariateEnsemble(seasonal={"first_detection": 128}, resonance=True),
        id="ensemble_with_resonance",
    ),
]
ALL = [
    *UNIVARIATE,
    *SINGLE_PURPOSE,
    pytest.param(lambda: HalfSpaceTrees(window_size=50), id="half_space_trees"),
]


def _as_input(det: AnomalyDetector, v: float):
    if isinstance(det, HalfSpaceTrees):
        return {"a": v, "b": 2 * v if math.isfinite(v) else v, "c": 1.0}
    return v


def _stream(det: AnomalyDetector, values, times=None) -> list[float]:
    out = []
    for i, v in enumerate(values):
        t = T0 + STEP * i if times is None else times[i]
        x = _as_input(det, v)
        p = det.score_one(x, t)
        det.learn_one(x, t)
        out.append(p)
    return out


def _alerts(det: AnomalyDetector, values) -> int:
    alerter = HysteresisAlerter()
    return sum(alerter.step(p) == "firing" for p in _stream(det, values))


@pytest.mark.parametrize("make", ALL)
def test_configuration_is_saved_and_rebuilt_exactly(make):
    det = make()
    assert det.clone().get_params() == det.get_params()
    rebuilt = from_config(json.loads(json.dumps(det.config())))
    assert type(rebuilt) is type(det) and rebuilt.get_params() == det.get_params()
    public = {k: v for k, v in vars(det).items() if not k.startswith("_")}
    assert public == det.get_params()  # constructors only store parameters


@pytest.mark.parametrize("make", ALL)
def test_checkpoint_then_resume_gives_identical_scores(make):
    values = seasonal_series(900)
    values[700] += 20
    det = make()
    _stream(det, values[:600])
    state = json.loads(json.dumps(det.state_dict()))
    restored = make().clone()
    restored.load_state_dict(state)
    times = [T0 + STEP * i for i in range(600, 900)]
    assert _stream(det, values[600:], times) == _stream(restored, values[600:], times)


@pytest.mark.parametrize("make", ALL)
def test_checkpoint_from_another_configuration_is_refused(make):
    det = make()
    _stream(det, seasonal_series(60))
    other = (
        type(det)(calibrator={"min_samples": 7})
        if not isinstance(det, UnivariateEnsemble)
        else UnivariateEnsemble(shift={"drift": 3.0})
    )
    with pytest.raises(InvalidInputError):
        other.load_state_dict(det.state_dict())


@pytest.mark.parametrize("make", ALL)
def test_scores_are_probabilities_and_causal(make):
    values = seasonal_series(500)
    a = _stream(make(), values)
    changed = values[:300] + [v * 5 for v in values[300:]]
    b = _stream(make(), changed)
    assert all(0.0 <= p <= 1.0 for p in a + b)
    assert a[:300] == b[:300]  # the score at t never depends on data after t


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("case", ["nan_inf", "one_point", "empty_then_point", "constant", "huge"])
def test_bad_values_do_not_crash(make, case):
    series = {
        "nan_inf": [1.0, math.nan, 2.0, math.inf, -math.inf, 1.5] * 60,
        "one_point": [3.0],
        "empty_then_point": [0.0],
        "constant": [7.0] * 400,
        "huge": [1e300, -1e300, 1e-300, 0.0] * 50,
    }[case]
    probs = _stream(make(), series)
    assert all(0.0 <= p <= 1.0 for p in probs)


@pytest.mark.parametrize("make", ALL)
def test_gaps_out_of_order_and_duplicate_timestamps(make):
    values = seasonal_series(600)
    times = [T0 + STEP * i for i in range(600)]
    times[200:] = [t + 3600 * 24 for t in times[200:]]  # a one-day gap
    times[300], times[301] = times[301], times[300]  # out of order
    times[400] = times[399]  # duplicate
    probs = _stream(make(), values, times)
    assert all(0.0 <= p <= 1.0 for p in probs)


@pytest.mark.parametrize("make", ALL)
def test_constant_series_raises_no_alert(make):
    assert _alerts(make(), [42.0] * 1500) == 0


@pytest.mark.parametrize("make", UNIVARIATE + SINGLE_PURPOSE)
def test_unit_change_gives_one_episode_not_a_storm(make):
    values = seasonal_series(3000, seed=3)
    values = values[:1500] + [v * 1000 for v in values[1500:]]
    alerts = _alerts(make(), values)
    assert alerts <= 2
    if not isinstance(make(), VolatilityDetector | SequenceNoveltyDetector):
        assert alerts >= 1  # level detectors do see the step


@pytest.mark.parametrize("make", UNIVARIATE)
def test_spike_is_detected_on_a_seasonal_series(make):
    values = seasonal_series(1500, seed=5)
    values[1200] += 8
    probs = _stream(make(), values)
    if isinstance(make(), ChangePointDetector):
        values = values[:1200] + [v + 3 for v in values[1200:]]
        probs = _stream(make(), values)
    assert max(probs[1200:1215]) > max(probs[700:1150])


def test_half_space_trees_flags_a_broken_relationship():
    pts = metric_points(1500)
    det = HalfSpaceTrees(window_size=100)
    for x in pts[:1400]:
        det.learn_one(x)
    normal = max(det.score_one(x) for x in pts[1400:])
    broken = dict(pts[1400], latency_ms=pts[1400]["latency_ms"] + 200)
    assert det.score_one(broken) > normal
