"""Sequence novelty: a transition between value levels the series does not usually make.

Values are quantised into ``levels`` bands between slowly forgetting high and low water marks
(plus one band below and one above); a Markov model of order ``order`` counts which band follows
each context of recent bands. The raw score is the surprise ``-log P(band | context)`` (Laplace
smoothed), so a metric that stops its usual pattern or takes an unusual path scores high even
when every single value is ordinary. Counts per context are halved past ``memory``, which bounds
memory at ``(levels + 2) ** (order + 1)`` counters and lets old habits fade.
"""

from __future__ import annotations

import math

from opsloop.aiops.detection._stream import InOrderStream, follow_marks, make_calibrator
from opsloop.core.detectors import AnomalyDetector

__all__ = ["SequenceNoveltyDetector"]


class SequenceNoveltyDetector(InOrderStream, AnomalyDetector):
    """Surprise of the next value band under a small Markov model of band transitions.

    Args:
        levels: bands between the water marks.
        order: number of previous bands forming the context.
        memory: counts of a context are halved when its total reaches this.
        forget: fraction of the range the water marks move back towards each other per point.
        warmup: points learned before any score is given.
        calibrator: ``TailCalibrator`` parameters.
    """

    def __init__(
        self,
        levels: int = 10,
        order: int = 2,
        memory: int = 200,
        forget: float = 1e-4,
        warmup: int = 300,
        calibrator: dict | None = None,
    ) -> None:
        self.levels = levels
        self.order = order
        self.memory = memory
        self.forget = forget
        self.warmup = warmup
        self.calibrator = calibrator
        self._cal = make_calibrator(calibrator)
        self._hi = -math.inf
        self._lo = math.inf
        self._ctx = 0
        self._n = 0
        self._counts: dict[int, list[float]] = {}
        self._last_t = -math.inf

    def _band(self, x: float) -> int:
        span = self._hi - self._lo
        if not span > 0.0:
            return 1
        if x < self._lo:
            return 0
        if x > self._hi:
            return self.levels + 1
        k = int((x - self._lo) / span * self.levels) + 1
        return k if k <= self.levels else self.levels

    def _surprise(self, band: int) -> float:
        row = self._counts.get(self._ctx)
        width = self.levels + 2
        if row is None:
            return math.log(width)
        return -math.log((row[band] + 0.5) / (row[width] + 0.5 * width))

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x) or self._n < self.warmup:
            return 0.0
        return self._cal.probability(self._surprise(self._band(x)))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not self._admit(x, t):
            return
        band = self._band(x)
        if self._n >= self.warmup:
            self._cal.learn_one(self._surprise(band))
        width = self.levels + 2
        row = self._counts.get(self._ctx)
        if row is None:
            row = self._counts[self._ctx] = [0.0] * (width + 1)  # last cell: the row total
        row[band] += 1.0
        row[width] += 1.0
        if row[width] >= self.memory:
            self._counts[self._ctx] = [c * 0.5 for c in row]
        self._ctx = (self._ctx * width + band) % (width**self.order)
        self._n += 1
        self._hi, self._lo = follow_marks(self._hi, self._lo, x, self.forget)
