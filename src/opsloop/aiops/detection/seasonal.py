"""Seasonality-aware robust baseline: the expected value of a metric at this point of its cycle.

``detect_period`` finds the dominant cycle of a regularly sampled window by autocorrelation.
``SeasonalBaseline`` keeps a bounded window of recent values, (re)detects the period at doubling
sample counts, and keeps a per-phase profile plus a level offset, both updated with clipped
(Huber-style) exponential averages so that outliers barely move them. The anomaly score is the
absolute residual over an exponentially averaged absolute residual, calibrated to a probability.
"""

from __future__ import annotations

import math
from array import array
from math import isfinite

import numpy as np

from opsloop.aiops.detection._stream import make_calibrator
from opsloop.core.detectors import AnomalyDetector, ExpectedBand

__all__ = ["SeasonalBaseline", "detect_period"]

_INF = math.inf


def detect_period(
    values: np.ndarray,
    *,
    min_period: int = 4,
    max_period: int | None = None,
    min_strength: float = 0.3,
    tolerance: float = 0.05,
) -> int:
    """Dominant period of a regularly sampled series, or 1 when it has none.

    The series is detrended (least squares line), its autocorrelation computed by FFT, and the
    shortest lag that is a local peak, reaches ``min_strength`` and stands out of the trough before
    it (prominence ≥ 0.2) and is within ``tolerance`` of the strongest such peak is taken: the
    shortest of the strongest cycles (a weekly cycle wins over a daily one only when it explains
    clearly more).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    max_period = n // 2 if max_period is None else min(max_period, n // 2)
    if n < 3 * min_period or max_period <= min_period:
        return 1
    size = float(np.abs(x).max())
    if not 0.0 < size < np.inf:
        return 1
    idx = np.arange(n)
    x = x / size
    x = x - np.polyval(np.polyfit(idx, x, 1), idx)
    var = float(np.dot(x, x))
    if not var > 1e-18 * n:
        return 1
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, size)
    acf = np.fft.irfft(f * np.conj(f), size)[: max_period + 2] / var
    acf *= n / (n - np.arange(len(acf)))  # unbiased: long lags are not penalised
    lags = np.arange(min_period, max_period + 1)
    peak = (acf[lags] >= acf[lags - 1]) & (acf[lags] >= acf[lags + 1]) & (acf[lags] >= min_strength)
    trough = np.minimum.accumulate(acf[: max_period + 2])[lags]
    peak &= acf[lags] - trough >= 0.2
    cand = lags[peak]
    if len(cand) == 0:
        return 1
    best = float(acf[cand].max())
    return int(next(c for c in cand if acf[c] >= best - tolerance))


def _phase_medians(values: np.ndarray, phases: np.ndarray, period: int) -> np.ndarray:
    """The median of ``values`` at each phase (their overall median where a phase has none)."""
    if len(values) and len(values) % period == 0:
        # whole cycles: a column per phase, every median in one call (the same values as one call a
        # phase: a median is the middle order statistic, or the mean of the two, whatever the order)
        prof = np.empty(period)
        prof[phases[:period]] = np.median(values.reshape(-1, period), axis=0)
        return prof
    prof = np.full(period, float(np.median(values)) if len(values) else math.nan)
    for ph in range(period):
        at_phase = values[phases == ph]
        if len(at_phase):
            prof[ph] = float(np.median(at_phase))
    return prof


class SeasonalBaseline(AnomalyDetector):
    """Robust per-phase baseline with automatic period detection.

    Args:
        window: values kept for period detection (bounds memory: ``8 * window`` bytes).
        max_period: longest period looked for (at most ``window // 2``).
        min_cycles: a period is only adopted when the values at hand hold this many cycles of it
            (two cycles of a long "period" are as often a coincidence as a cycle).
        first_detection: sample count of the first period detection; repeated at doubling counts
            until ``window``, then every ``window`` samples.
        alpha: per-phase profile learning rate (per cycle).
        level_alpha: learning rate of the level offset shared by all phases (per sample).
        scale_alpha: learning rate of the mean absolute residual.
        clip: residuals are clipped to ``clip`` × scale before they update the model.
        band: half-width of the expected band, in scales.
        calibrator: ``TailCalibrator`` parameters over the default ``{"tail": "pareto"}``: real
            metrics are heavy-tailed, so a series that spikes often needs a far larger spike.
        replay: when a new period is adopted, this many of the window's residuals under the new
            profile warm its fresh calibrator (0: start cold).
    """

    def __init__(
        self,
        window: int = 2048,
        max_period: int = 1024,
        first_detection: int = 256,
        alpha: float = 0.1,
        level_alpha: float = 0.02,
        scale_alpha: float = 0.02,
        clip: float = 3.0,
        band: float = 4.0,
        calibrator: dict | None = None,
        replay: int = 1024,
        min_cycles: int = 3,
    ) -> None:
        self.window = window
        self.max_period = max_period
        self.first_detection = first_detection
        self.alpha = alpha
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.band = band
        self.calibrator = calibrator
        self.replay = replay
        self.min_cycles = min_cycles
        self._cal = make_calibrator(calibrator, tail="pareto")
        self._buf = array("d")
        self._n = 0
        self._next_detection = first_detection
        self._t0: float | None = None
        self._step = 0.0
        self._last_t = -math.inf
        self._last_slot = -1
        self._period = 1
        self._profile = [math.nan]
        self._offset = 0.0
        self._scale = math.nan
        self._floor = math.inf
        self._last_x = math.nan
        self._band: ExpectedBand | None = None

    # --- time ---------------------------------------------------------------------------------
    def _slot(self, t: float | None) -> int:
        if t is None:
            return self._last_slot + 1
        if self._t0 is None:
            return 0
        if self._step <= 0.0:
            return 1 if t > self._t0 else 0
        return round((t - self._t0) / self._step)

    # --- scoring ------------------------------------------------------------------------------
    def expected(self, t: float | None = None) -> float:
        """Expected value at time ``t`` (NaN before the first point)."""
        slot = self._slot(t)
        return self._profile[slot % self._period] + self._offset

    def residual_z(self, x: float, t: float | None = None) -> tuple[float, float]:
        """(signed residual, residual in scales) of ``x`` at ``t``."""
        t0, step = self._t0, self._step
        # self.expected(t), with _slot's usual case inlined (hot path)
        slot = round((t - t0) / step) if t is not None and t0 is not None and step > 0.0 else self._slot(t)
        exp = self._profile[slot % self._period] + self._offset
        r = x - exp
        scale, floor = self._scale, self._floor
        if not scale > floor:  # scale_or_floor, inlined (hot path)
            scale = floor
        if scale != scale or scale == _INF:
            return r, 0.0
        if not scale > 1e-12:
            scale = 1e-12
        half_width = self.band * scale
        self._band = (exp, exp - half_width, exp + half_width)
        return r, r / scale

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x) or self._n == 0:
            return 0.0
        _, z = self.residual_z(x, t)
        return self._cal.probability(abs(z))

    def expected_band(self) -> ExpectedBand | None:
        return self._band

    # --- learning -----------------------------------------------------------------------------
    def learn_one(self, x: float, t: float | None = None) -> None:
        if not isfinite(x):
            return
        if t is not None:
            if t <= self._last_t:  # duplicates and late points do not teach the model
                return
            if self._t0 is None:
                self._t0 = t
            elif self._n < 64:
                dt = t - self._last_t
                self._step = dt if self._step <= 0.0 else min(self._step, dt)
            self._last_t = t
        t0, step = self._t0, self._step
        slot = round((t - t0) / step) if t is not None and t0 is not None and step > 0.0 else self._slot(t)
        d = 0.5 * abs(x - self._last_x)  # floor_from_step, inlined (hot path)
        if 0.0 < d < self._floor:
            self._floor = d
        last_slot = self._last_slot
        if slot <= last_slot + 1 or last_slot < 0:  # no gap: self._remember's usual case, inlined
            buf = self._buf
            buf.append(x)
            if len(buf) > self.window:  # it held at most window values: one in, one out
                del buf[0]
            self._last_slot = slot
        else:
            self._remember(x, slot)
        self._update(x, slot)
        n = self._n = self._n + 1
        self._last_x = x
        if n >= self._next_detection:
            self._redetect()

    def _remember(self, x: float, slot: int) -> None:
        buf = self._buf
        gap = slot - self._last_slot - 1 if self._last_slot >= 0 else 0
        if gap > self.window:
            del buf[:]
        elif gap > 0 and len(buf):
            buf.extend([buf[-1]] * gap)
        buf.append(x)
        excess = len(buf) - self.window
        if excess > 0:
            del buf[:excess]
        self._last_slot = slot

    def _update(self, x: float, slot: int) -> None:
        period, profile = self._period, self._profile
        ph = slot % period
        base = profile[ph]
        offset = self._offset
        if base != base:
            profile[ph] = x - offset
            return
        r = x - base - offset
        scale = self._scale
        ar = abs(r)
        if scale != scale:
            self._scale = ar
            return
        floor = self._floor
        eff = scale if scale > floor else floor  # scale_or_floor, inlined (hot path)
        eff = eff if eff > 1e-12 else 1e-12
        self._cal.learn_one(ar / eff)
        lim = self.clip * eff
        rc = r if -lim <= r <= lim else (lim if r > 0 else -lim)
        self._scale = scale + self.scale_alpha * ((rc if rc >= 0 else -rc) - scale)
        self._offset = offset + self.level_alpha * rc
        if period > 1:
            profile[ph] = base + self.alpha * rc

    def _redetect(self) -> None:
        n_buf = len(self._buf)
        self._next_detection = self._n + (self._n if self._n < self.window else self.window)
        buf = np.frombuffer(self._buf, dtype=float) if n_buf else np.zeros(0)
        period = detect_period(buf, max_period=min(self.max_period, n_buf // max(self.min_cycles, 2)))
        if period == self._period:
            return
        self._period = period
        self._cal = make_calibrator(self.calibrator, tail="pareto")  # old scores came from another model
        k = n_buf // period * period
        recent = buf[n_buf - k :] if k else buf
        first_slot = self._last_slot - len(recent) + 1
        phases = (np.arange(len(recent)) + first_slot) % period
        prof = _phase_medians(recent, phases, period)
        self._offset = 0.0
        self._profile = prof.tolist()
        resid = recent - prof[phases]
        self._scale = float(np.mean(np.abs(resid))) if len(resid) else math.nan
        if self.replay and self._scale == self._scale:
            # warm the new calibrator with the window's residuals instead of starting cold
            eff = max(self._scale, self._floor if self._floor < math.inf else 0.0, 1e-12)
            for z in (np.abs(resid[-self.replay :]) / eff).tolist():
                self._cal.learn_one(z)

    def shift_level(self, delta: float) -> None:
        """Move the expected level by ``delta`` (a level shift confirmed elsewhere)."""
        self._offset += delta

    @property
    def period(self) -> int:
        """Detected period in samples (1: none)."""
        return self._period
