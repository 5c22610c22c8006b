"""Resonance novelty (an ART memory of block patterns): what it reports, what it keeps, how it resumes."""

from __future__ import annotations

import json
import math
import random

import pytest
from tests.aiops.detection._series import seasonal_series

from opsloop.aiops.detection import HysteresisAlerter, ResonanceDetector, UnivariateEnsemble
from opsloop.errors import InvalidInputError


def _run(det, values, start: int = 0) -> list[float]:
    out = []
    for i, v in enumerate(values, start=start):
        p = det.score_one(v, 60.0 * i)
        det.learn_one(v, 60.0 * i)
        out.append(p)
    return out


def _novelties(values, **params) -> list[int]:
    return [i for i, p in enumerate(_run(ResonanceDetector(**params), values)) if p > 0.0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_spike_is_reported_at_the_end_of_its_block(seed):
    values = seasonal_series(2000, seed=seed)
    values[1500] += 15
    assert [i for i in _novelties(values) if i >= 1400] == [1505]  # block of 6: points 1500-1505


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_level_shift_is_reported_once(seed):
    values = seasonal_series(2000, seed=seed)
    values = values[:1500] + [v + 10 for v in values[1500:]]
    assert [i for i in _novelties(values) if i >= 1400] == [1505]


@pytest.mark.parametrize("seed", [0, 1])
def test_white_noise_gives_no_storm_of_novelties(seed):
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(10_000)]
    det, alerter = ResonanceDetector(), HysteresisAlerter()
    probs = _run(det, values)
    assert sum(p > 0.0 for p in probs) <= 25  # of 1,666 blocks
    assert sum(alerter.step(p) == "firing" for p in probs) <= 20


def test_novelties_are_masked_after_one_another():
    rng = random.Random(5)
    walk, v = [], 0.0
    for _ in range(6000):
        v += rng.gauss(0.0, 1.0)
        walk.append(v)
    det = ResonanceDetector()
    reported = new_clusters = 0
    for i, x in enumerate(walk):
        p = det.score_one(x, 60.0 * i)
        det.learn_one(x, 60.0 * i)
        reported += p > 0.0
        new_clusters += det.points_since_novel == 0
    assert 0 < reported < new_clusters


def test_memory_is_bounded_by_max_categories():
    rng = random.Random(7)
    det = ResonanceDetector(max_categories=32, warmup=20)
    _run(det, [rng.random() * (1 + i % 97) for i in range(8000)])
    assert len(det._weights) == 32
    assert len(det._recent) <= det.median_steps and len(det._sorted) == len(det._recent)


@pytest.mark.parametrize("cut", [300, 1203, 1500])  # in the warm-up, mid-block, on a block boundary
def test_checkpoint_round_trip_resumes_identically(cut):
    values = seasonal_series(2400, seed=2)
    values[1800] -= 12
    det = ResonanceDetector()
    _run(det, values[:cut])
    restored = ResonanceDetector()
    restored.load_state_dict(json.loads(json.dumps(det.state_dict())))
    assert _run(det, values[cut:], cut) == _run(restored, values[cut:], cut)


def test_bad_values_gaps_and_constant_series_do_not_crash():
    det = ResonanceDetector(warmup=20)
    values = [1.0, math.nan, 2.0, math.inf, -math.inf, 1.5, 1e300, -1e300] * 200
    times = [60.0 * i for i in range(len(values))]
    times[500:] = [t + 86_400 for t in times[500:]]  # a one-day gap
    times[700] = times[699]  # a duplicate
    for x, t in zip(values, times, strict=True):
        p = det.score_one(x, t)
        det.learn_one(x, t)
        assert 0.0 <= p <= 1.0
    assert _novelties([7.0] * 3000) == []
    overflowing = _run(ResonanceDetector(warmup=20), [1e308, 1.7e308, -1.7e308, 3.0] * 400)
    assert all(0.0 <= p <= 1.0 for p in overflowing)


def test_a_series_constant_through_the_warm_up_keeps_learning_its_range():
    values = [5.0] * 1200 + seasonal_series(1200, seed=1)
    values[2000] += 15
    assert 2003 in _novelties(values)  # block of 6 ending at 2003 (1200 is a block boundary)


def test_a_non_finite_value_does_not_enter_a_block():
    a, b = ResonanceDetector(), ResonanceDetector()
    values = seasonal_series(900, seed=4)
    with_nan = values[:400] + [math.nan] + values[400:]
    pa = _run(a, values)
    pb = [p for i, p in enumerate(_run(b, with_nan)) if i != 400]
    assert pa[:400] == pb[:400]
    assert a._steps == b._steps


@pytest.mark.parametrize(("params", "field"), [({"window": 6}, "window"), ({"output": "loud"}, "output")])
def test_invalid_parameters_are_refused(params, field):
    with pytest.raises(InvalidInputError) as err:
        ResonanceDetector(**params)
    assert err.value.field == field


def test_match_output_gives_calibrated_probabilities():
    values = seasonal_series(3000, seed=1)
    values[2500] += 15
    probs = _run(ResonanceDetector(output="match"), values)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert max(probs[2500:2506]) > max(probs[1000:2400])


def test_an_ensemble_checkpoint_from_before_the_resonance_option_still_loads():
    values = seasonal_series(1500, seed=6)
    values[1300] += 9
    det = UnivariateEnsemble()
    _run(det, values[:900])
    state = json.loads(json.dumps(det.state_dict()))
    params = state["config"]["__dict__"]["params"]["__dict__"]
    del params["resonance"], params["resonance_alone"]  # as written by older versions
    state["state"]["_parts"]["__tuple__"] = state["state"]["_parts"]["__tuple__"][:6]
    del state["state"]["_resonance"]
    restored = UnivariateEnsemble()
    restored.load_state_dict(state)
    assert _run(det, values[900:], 900) == _run(restored, values[900:], 900)
    assert set(restored.parts) == set(det.parts)


def test_the_ensemble_with_resonance_finds_a_spike():
    values = seasonal_series(2000, seed=3)
    values[1500] += 10
    det = UnivariateEnsemble(resonance=True)
    probs = _run(det, values)
    assert max(probs[1500:1506]) > max(probs[800:1450])
    assert "resonance" in det.parts and "resonance" not in UnivariateEnsemble().parts


def test_resonance_alone_is_the_larger_of_its_novelty_and_the_other_components():
    values = seasonal_series(2000, seed=3)
    values[1500] += 10
    plain, alone = UnivariateEnsemble(), UnivariateEnsemble(resonance=True, resonance_alone=True)
    own = []
    for i, v in enumerate(values):
        p, q = plain.score_one(v, 60.0 * i), alone.score_one(v, 60.0 * i)
        plain.learn_one(v, 60.0 * i)
        alone.learn_one(v, 60.0 * i)
        assert q == max(p, alone.parts["resonance"])
        own.append(alone.parts["resonance"])
    assert max(own[1500:1506]) > 0.9
