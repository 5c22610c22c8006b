"""The shared stream state of the components, and the seasonal baseline's robustness defaults."""

from __future__ import annotations

import json
import math
import random

from tests.aiops.detection._series import seasonal_series

from opsloop.aiops.detection import (
    ChangePointDetector,
    HysteresisAlerter,
    RangeNoveltyDetector,
    SeasonalBaseline,
    SequenceNoveltyDetector,
    UnivariateEnsemble,
    VolatilityDetector,
)
from opsloop.aiops.detection._stream import InOrderStream, floor_from_step, follow_marks, make_calibrator


class _Gate(InOrderStream):
    def __init__(self) -> None:
        self._last_t = -math.inf


def test_only_finite_points_newer_than_the_last_are_admitted():
    gate = _Gate()
    assert gate._admit(1.0, 10.0)
    assert not gate._admit(1.0, 10.0)  # duplicate
    assert not gate._admit(1.0, 5.0)  # late
    assert not gate._admit(math.nan, 20.0) and not gate._admit(math.inf, None)
    assert gate._admit(2.0, None) and gate._admit(2.0, 11.0)


def test_noise_floor_is_half_the_smallest_non_zero_step():
    floor = math.inf
    for prev, x in [(math.nan, 1.0), (1.0, 1.0), (1.0, 3.0), (3.0, 2.0), (2.0, 5.0)]:
        floor = floor_from_step(floor, prev, x)
    assert floor == 0.5


def test_water_marks_follow_new_extremes_and_forget_slowly():
    hi, lo = -math.inf, math.inf
    for x in [5.0, 1.0, 3.0]:
        hi, lo = follow_marks(hi, lo, x, 0.0)
    assert (hi, lo) == (5.0, 1.0)
    hi, lo = follow_marks(hi, lo, 3.0, 0.1)
    assert math.isclose(hi, 4.6) and math.isclose(lo, 1.4)


def test_calibrator_parameters_override_the_component_defaults():
    assert make_calibrator(None, tail="pareto").tail == "pareto"
    cal = make_calibrator({"min_samples": 7}, tail="pareto")
    assert (cal.tail, cal.min_samples) == ("pareto", 7)
    assert make_calibrator({"tail": "exponential"}, tail="pareto").tail == "exponential"


def _stream(det, values, start=0):
    out = []
    for i, v in enumerate(values, start):
        out.append(det.score_one(v, 60.0 * i))
        det.learn_one(v, 60.0 * i)
    return out


def test_every_component_resumes_exactly_from_a_json_checkpoint():
    values = seasonal_series(1200, seed=2)
    values[900] += 15.0
    for make in (ChangePointDetector, VolatilityDetector, SequenceNoveltyDetector, SeasonalBaseline):
        det = make()
        _stream(det, values[:700])
        restored = make()
        restored.load_state_dict(json.loads(json.dumps(det.state_dict())))
        assert _stream(det, values[700:], 700) == _stream(restored, values[700:], 700)
    det = RangeNoveltyDetector(warmup=50)
    _stream(det, values[:700])
    assert set(det.state_dict()["state"]) == {"_cal", "_hi", "_lo", "_n", "_last_t"}


def test_seasonal_tail_is_heavy_so_a_usual_spike_scores_below_a_record_one():
    rng = random.Random(4)
    values = [10.0 + rng.gauss(0.0, 0.3) for _ in range(4000)]
    for i in range(300, 4000, 97):
        values[i] += rng.choice([-1.0, 1.0]) * 3.0  # ten-sigma spikes, a usual sight on this series
    values[3950] += 30.0  # ten times larger than any spike before
    heavy, light = SeasonalBaseline(), SeasonalBaseline(calibrator={"tail": "exponential"})
    p_heavy, p_light = _stream(heavy, values), _stream(light, values)
    usual = [i for i in range(2000, 3900) if (i - 300) % 97 == 0]
    assert max(p_heavy[i] for i in usual) < max(p_light[i] for i in usual)
    assert max(p_heavy[i] for i in usual) < p_heavy[3950]
    alerter, det = HysteresisAlerter(), UnivariateEnsemble()
    fired = [i for i, p in enumerate(_stream(det, values)) if alerter.step(p) == "firing"]
    assert 3950 in fired


def test_two_cycles_of_a_long_pattern_are_not_taken_for_a_period():
    rng = random.Random(5)
    bump = [math.sin(math.pi * i / 300) * 5.0 for i in range(300)]
    values = [rng.gauss(0.0, 0.5) for _ in range(2048)]
    for start in (100, 1000):  # the same shape twice, 900 points apart
        for i, b in enumerate(bump):
            values[start + i] += b
    det = SeasonalBaseline(min_cycles=3)
    _stream(det, values)
    assert det.period == 1
    cyc = SeasonalBaseline(min_cycles=3, first_detection=512)
    _stream(cyc, seasonal_series(2048, period=96, noise=0.2))
    assert cyc.period == 96
