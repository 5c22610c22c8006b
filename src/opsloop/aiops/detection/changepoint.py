"""Level-shift detection: a two-sided CUSUM on robustly standardised values.

The CUSUM accumulates standardised deviations beyond an allowance ``drift`` in each direction;
a sustained shift grows it linearly while noise keeps it near zero. When it passes ``confirm``
the shift is taken as the new normal: the baseline jumps to the recent (fast) mean and the
sums restart, so a unit change or a deploy that moves a metric gives one episode, not a storm.
"""

from __future__ import annotations

import math
from math import isfinite

from opsloop.aiops.detection._stream import InOrderStream, make_calibrator, scale_or_floor
from opsloop.core.detectors import AnomalyDetector, ExpectedBand

__all__ = ["ChangePointDetector"]

_INF = math.inf


class ChangePointDetector(InOrderStream, AnomalyDetector):
    """CUSUM level-shift detector on raw values with its own robust baseline.

    Args:
        drift: allowance per sample, in scales (shifts smaller than this are ignored).
        confirm: CUSUM value at which a shift is accepted as the new level.
        alpha: learning rate of the slow baseline; ``fast_alpha`` of the recent mean.
        scale_alpha: learning rate of the mean absolute deviation.
        clip: deviations are clipped to ``clip`` scales before they update baseline and scale.
        calibrator: ``TailCalibrator`` parameters for the CUSUM statistic.
    """

    def __init__(
        self,
        drift: float = 1.0,
        confirm: float = 40.0,
        alpha: float = 0.01,
        fast_alpha: float = 0.2,
        scale_alpha: float = 0.01,
        clip: float = 3.0,
        calibrator: dict | None = None,
    ) -> None:
        self.drift = drift
        self.confirm = confirm
        self.alpha = alpha
        self.fast_alpha = fast_alpha
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.calibrator = calibrator
        self._cal = make_calibrator(calibrator)
        self._pos = 0.0
        self._neg = 0.0
        self._base = math.nan
        self._fast = math.nan
        self._scale = math.nan
        self._floor = math.inf
        self._last_x = math.nan
        self._last_t = -math.inf
        self._band: ExpectedBand | None = None
        self._changes = 0

    def _z(self, x: float) -> float:
        s = scale_or_floor(self._scale, self._floor)
        if s != s or s == math.inf:
            return 0.0
        return (x - self._base) / (s if s > 1e-12 else 1e-12)

    def score_one(self, x: float, t: float | None = None) -> float:
        base = self._base
        if not isfinite(x) or base != base:
            return 0.0
        # self._z(x) and scale_or_floor, inlined (hot path)
        scale, floor = self._scale, self._floor
        s = scale if scale > floor else floor
        if s != s or s == _INF:
            z = 0.0
        else:
            z = (x - base) / (s if s > 1e-12 else 1e-12)
            self._band = (base, base - 3.0 * s, base + 3.0 * s)
        drift = self.drift
        p = self._pos + z - drift
        n = self._neg - z - drift
        return self._cal.probability(p if p > n else (n if n > 0.0 else 0.0))

    def expected_band(self) -> ExpectedBand | None:
        return self._band

    @property
    def changes(self) -> int:
        """Level shifts confirmed so far."""
        return self._changes

    def rebase(self, offset: float) -> None:
        """Move the learned level by ``offset`` (used when a caller absorbs a confirmed shift)."""
        self._base -= offset
        self._fast -= offset

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is not None and t > self._last_t and isfinite(x):  # self._admit(x, t), inlined (hot path)
            self._last_t = t
        elif not self._admit(x, t):
            return
        base = self._base
        if base != base:
            self._base = self._fast = x
            self._last_x = x
            return
        d = 0.5 * abs(x - self._last_x)  # floor_from_step, inlined (hot path)
        floor = self._floor
        if 0.0 < d < floor:
            floor = self._floor = d
        self._last_x = x
        fast = self._fast
        self._fast = fast + self.fast_alpha * (x - fast)
        scale = self._scale
        if scale != scale:
            self._scale = abs(x - base)
            return
        # self._z(x) and scale_or_floor, inlined (hot path); neither scale nor floor is NaN here
        s = scale if scale > floor else floor
        z = 0.0 if s == _INF else (x - base) / (s if s > 1e-12 else 1e-12)
        drift = self.drift
        p = self._pos + z - drift
        n = self._neg - z - drift
        pos = self._pos = p if p > 0.0 else 0.0
        neg = self._neg = n if n > 0.0 else 0.0
        self._cal.learn_one(pos if pos > neg else neg)
        confirm = self.confirm
        if pos > confirm or neg > confirm:
            self._pos = self._neg = 0.0
            self._base = self._fast
            self._changes += 1
            return
        clip = self.clip
        zc = z if -clip <= z <= clip else (clip if z > 0 else -clip)
        self._base = base + self.alpha * zc * s
        self._scale = scale + self.scale_alpha * ((zc if zc >= 0.0 else -zc) * s - scale)
