"""Range novelty: a value beyond anything the series has reached for a long time.

Many incidents show as a metric going where it has not been before (a new low of free memory, a
temperature never reached). The detector keeps a slowly forgetting high and low water mark and
scores the excess of a value beyond them, relative to the range between them.
"""

from __future__ import annotations

import math
from math import isfinite

from opsloop.aiops.detection._stream import InOrderStream, make_calibrator
from opsloop.core.detectors import AnomalyDetector

__all__ = ["RangeNoveltyDetector"]


class RangeNoveltyDetector(InOrderStream, AnomalyDetector):
    """Excess beyond slowly forgetting high/low water marks, calibrated to a probability.

    Args:
        forget: fraction of the range the marks move back towards each other per point.
        warmup: points learned before any score is given.
        calibrator: ``TailCalibrator`` parameters.
    """

    def __init__(self, forget: float = 1e-4, warmup: int = 300, calibrator: dict | None = None) -> None:
        self.forget = forget
        self.warmup = warmup
        self.calibrator = calibrator
        # excesses are fractions of the range: a few tiny early ones must not make the tail thin
        self._cal = make_calibrator({"excess_floor": 0.05} if calibrator is None else calibrator)
        self._hi = -math.inf
        self._lo = math.inf
        self._n = 0
        self._last_t = -math.inf

    def _raw(self, x: float) -> float:
        span = self._hi - self._lo
        if not span > 0.0:
            return 0.0 if x == self._hi else 1.0
        if x > self._hi:
            return (x - self._hi) / span
        if x < self._lo:
            return (self._lo - x) / span
        return 0.0

    def score_one(self, x: float, t: float | None = None) -> float:
        if not isfinite(x) or self._n < self.warmup:
            return 0.0
        if self._lo <= x <= self._hi and self._lo < self._hi:
            return 0.0  # within the marks: no excess, and the calibrator gives an excess of 0 no weight
        return self._cal.probability(self._raw(x))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is not None and t > self._last_t and isfinite(x):  # self._admit(x, t), inlined (hot path)
            self._last_t = t
        elif not self._admit(x, t):
            return
        hi, lo = self._hi, self._lo
        if self._n >= self.warmup:
            # self._raw(x), inlined (hot path)
            span = hi - lo
            if not span > 0.0:
                raw = 0.0 if x == hi else 1.0
            else:
                raw = (x - hi) / span if x > hi else ((lo - x) / span if x < lo else 0.0)
            self._cal.learn_one(raw)
        self._n += 1
        # follow_marks(hi, lo, x, self.forget), inlined (hot path)
        shrink = self.forget * (hi - lo) if hi > lo else 0.0
        hi, lo = hi - shrink, lo + shrink
        self._hi = x if x > hi else hi
        self._lo = x if x < lo else lo
