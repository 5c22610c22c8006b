"""Volatility change: the series got much noisier (or went flat) compared with its own history.

The mean absolute first difference is tracked at a short and a long time scale; the log of their
ratio is the raw score (both directions: bursts of spikes and a metric that stops moving).
"""

from __future__ import annotations

import math

from opsloop.aiops.detection._stream import InOrderStream, floor_from_step, make_calibrator
from opsloop.core.detectors import AnomalyDetector

__all__ = ["VolatilityDetector"]


class VolatilityDetector(InOrderStream, AnomalyDetector):
    """Short- versus long-scale mean absolute difference, calibrated to a probability.

    Args:
        fast_alpha: learning rate of the short-scale volatility.
        slow_alpha: learning rate of the long-scale volatility.
        flat: also flag a drop of volatility (a stuck metric), not only a rise.
        calibrator: ``TailCalibrator`` parameters.
    """

    def __init__(
        self,
        fast_alpha: float = 0.1,
        slow_alpha: float = 0.005,
        flat: bool = True,
        calibrator: dict | None = None,
    ) -> None:
        self.fast_alpha = fast_alpha
        self.slow_alpha = slow_alpha
        self.flat = flat
        self.calibrator = calibrator
        self._cal = make_calibrator(calibrator)
        self._fast = math.nan
        self._slow = math.nan
        self._floor = math.inf
        self._last_x = math.nan
        self._last_t = -math.inf

    def _raw(self, fast: float) -> float:
        eps = self._floor if self._floor < math.inf else 1e-12
        r = math.log((fast + eps) / (self._slow + eps))
        return r if r > 0.0 else (-r if self.flat else 0.0)

    def _next_fast(self, x: float) -> float:
        return self._fast + self.fast_alpha * (abs(x - self._last_x) - self._fast)

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x) or self._slow != self._slow:
            return 0.0
        return self._cal.probability(self._raw(self._next_fast(x)))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not self._admit(x, t):
            return
        if self._last_x != self._last_x:
            self._last_x = x
            return
        d = abs(x - self._last_x)
        self._floor = floor_from_step(self._floor, self._last_x, x)
        if self._fast != self._fast:
            self._fast = self._slow = d
        else:
            self._fast = self._next_fast(x)
            self._slow += self.slow_alpha * (d - self._slow)
            self._cal.learn_one(self._raw(self._fast))
        self._last_x = x
