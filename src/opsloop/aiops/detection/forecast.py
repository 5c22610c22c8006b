"""Forecasts with prediction intervals, and predictive signals ("disk full in 6 h").

``SeasonalTrendForecaster`` is additive Holt-Winters with a damped trend: a level, a trend and a
per-phase seasonal profile (period detected automatically, as in ``seasonal.py``), updated one
point at a time. Intervals come from the running variance of one-step errors widened with the
horizon. ``ThresholdPredictor`` raises one ``prediction`` signal per episode in which the forecast
crosses a threshold within the horizon, with the forecast attached.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from opsloop.aiops.detection.seasonal import detect_period
from opsloop.core.detectors import Estimator
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["Forecast", "SeasonalTrendForecaster", "ThresholdPredictor"]


@dataclass(frozen=True, slots=True)
class Forecast:
    """Forecast points ``steps`` ahead of the last learned point; ``low``/``high`` bound the interval."""

    times: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]

    def to_dict(self) -> dict[str, list[float]]:
        return {"times": self.times, "mean": self.mean, "low": self.low, "high": self.high}


class SeasonalTrendForecaster(Estimator):
    """Damped-trend additive Holt-Winters with automatic period detection.

    Args:
        alpha, beta, gamma: level, trend and seasonal learning rates.
        damping: trend damping per step (1: linear trend).
        window: values kept for period detection; ``first_detection`` as in ``SeasonalBaseline``.
        z: interval half-width in standard deviations (1.96: about 95 %).
    """

    def __init__(
        self,
        alpha: float = 0.2,
        beta: float = 0.02,
        gamma: float = 0.1,
        damping: float = 1.0,
        window: int = 2048,
        max_period: int = 1024,
        first_detection: int = 256,
        z: float = 1.96,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.damping = damping
        self.window = window
        self.max_period = max_period
        self.first_detection = first_detection
        self.z = z
        self._buf = array("d")
        self._n = 0
        self._next_detection = first_detection
        self._level = math.nan
        self._trend = 0.0
        self._season = [0.0]
        self._phase = 0
        self._var = math.nan
        self._last_t = math.nan
        self._step = 0.0
        self._min_seen = math.inf

    def learn_one(self, x: float, t: float | None = None) -> None:
        """Learn one point (non-finite values and late or duplicate timestamps are skipped)."""
        if not math.isfinite(x):
            return
        if t is not None and self._last_t == self._last_t:
            if t <= self._last_t:
                return
            dt = t - self._last_t
            self._step = dt if self._step <= 0.0 or self._n < 64 and dt < self._step else self._step
            if self._n >= 64:
                self._skip(int(round(dt / self._step)) - 1)
        if t is not None:
            self._last_t = t
        if x < self._min_seen:
            self._min_seen = x
        self._buf.append(x)
        if len(self._buf) > self.window:
            del self._buf[0]
        self._update(x)
        self._n += 1
        if self._n >= self._next_detection:
            self._next_detection = self._n + min(self._n, self.window)
            self._redetect()

    def _skip(self, missing: int) -> None:
        """Carry the model over a gap of ``missing`` samples (trend and phase move on)."""
        if missing <= 0 or self._level != self._level:
            return
        missing = min(missing, 10 * self.window)
        self._phase = (self._phase + missing) % len(self._season)
        self._level += self._trend * sum(self.damping**k for k in range(1, min(missing, 1000) + 1))
        if missing >= self.window:
            del self._buf[:]
        elif len(self._buf):
            self._buf.extend([self._buf[-1]] * missing)
            if len(self._buf) > self.window:
                del self._buf[: len(self._buf) - self.window]

    def _update(self, x: float) -> None:
        p = len(self._season)
        s = self._season[self._phase]
        if self._level != self._level:
            self._level = x - s
        else:
            pred = self._level + self.damping * self._trend + s
            err = x - pred
            sd = math.sqrt(self._var) if self._var == self._var else abs(err)
            lim = 4.0 * sd if sd > 0 else abs(err)
            ec = max(-lim, min(lim, err))  # outliers barely move the model
            self._var = err * err if self._var != self._var else self._var + 0.02 * (ec * ec - self._var)
            prev = self._level
            self._level = prev + self.damping * self._trend + self.alpha * ec
            self._trend = self.damping * self._trend + self.beta * (
                self._level - prev - self.damping * self._trend
            )
            if p > 1:
                self._season[self._phase] = s + self.gamma * (1 - self.alpha) * ec
        self._phase = (self._phase + 1) % p

    def _redetect(self) -> None:
        buf = np.frombuffer(self._buf, dtype=float).copy()
        period = detect_period(buf, max_period=self.max_period)
        if period == len(self._season):
            return
        k = len(buf) // period * period
        season = [0.0] * period
        if period > 1 and k:
            recent = buf[len(buf) - k :]
            cycles = recent.reshape(-1, period)
            prof = np.median(cycles, axis=0)
            prof -= prof.mean()
            # the buffer ends at the last point, so its next phase is 0
            season = prof.tolist()
        self._season = season
        self._phase = 0
        self._level = float(np.median(buf[-period:] - np.asarray(season))) if period > 1 else self._level

    @property
    def period(self) -> int:
        return len(self._season)

    def forecast(self, steps: int) -> Forecast:
        """Forecast ``steps`` points ahead with prediction intervals."""
        if steps < 1:
            raise InvalidInputError("steps must be >= 1", field="steps")
        if self._level != self._level:
            return Forecast([], [], [], [])
        p = len(self._season)
        sd = math.sqrt(self._var) if self._var == self._var else 0.0
        times, mean, low, high = [], [], [], []
        damp_sum, d, widen = 0.0, 1.0, 0.0
        step = self._step if self._step > 0 else 1.0
        floor = 0.0 if self._min_seen >= 0.0 else None  # a metric never seen negative stays >= 0
        base_t = self._last_t if self._last_t == self._last_t else float(self._n - 1)
        for h in range(1, steps + 1):
            d *= self.damping
            damp_sum += d
            m = self._level + damp_sum * self._trend + self._season[(self._phase + h - 1) % p]
            widen += (self.alpha * (1 + self.beta * h)) ** 2 if h > 1 else 0.0
            half = self.z * sd * math.sqrt(1.0 + widen)
            times.append(base_t + h * step)
            if floor is not None and m < floor:
                m = floor
            mean.append(m)
            low.append(m - half if floor is None or m - half > floor else floor)
            high.append(m + half)
        return Forecast(times, mean, low, high)


class ThresholdPredictor:
    """Raises a ``prediction`` signal when a forecast crosses ``threshold`` within ``horizon`` seconds.

    Args:
        threshold: the level that must not be crossed (e.g. 0.95 of a disk).
        horizon: seconds ahead to look.
        above: True when crossing upwards is bad (disk usage), False for downwards (free bytes).
        use_bound: cross on the interval's near bound instead of the mean (earlier, noisier).
        clear_after: consecutive forecasts without a predicted crossing that end an episode; the end is
            a ``resolved`` signal of the same condition, so an incident the prediction opened resolves
            when the danger has passed (the disk was cleaned up, the trend turned).
    """

    def __init__(
        self,
        threshold: float,
        horizon: float,
        *,
        above: bool = True,
        use_bound: bool = False,
        clear_after: int = 10,
        max_steps: int = 2048,
    ) -> None:
        for name, value in (("threshold", threshold), ("horizon", horizon)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInputError(f"'{name}' must be a finite number, not {value!r}", field=name)
        if horizon <= 0:
            raise InvalidInputError("'horizon' must be a positive number of seconds", field="horizon")
        for name, value in (("clear_after", clear_after), ("max_steps", max_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"'{name}' must be a positive integer, not {value!r}", field=name)
        self.threshold = threshold
        self.horizon = horizon
        self.above = above
        self.use_bound = use_bound
        self.clear_after = clear_after
        self.max_steps = max_steps
        self.active = False
        self.quiet = 0

    def crossing(self, fc: Forecast) -> tuple[float, float] | None:
        """(time of the first predicted crossing, forecast value there), if any."""
        series = (fc.high if self.above else fc.low) if self.use_bound else fc.mean
        for t, v in zip(fc.times, series, strict=True):
            if (v >= self.threshold) if self.above else (v <= self.threshold):
                return t, v
        return None

    def check(
        self,
        model: SeasonalTrendForecaster,
        now: float,
        labels: Mapping[str, str] | None = None,
        service: str = "",
    ) -> Signal | None:
        """Forecast from ``model`` and return a signal when an episode of predicted crossing opens."""
        step = model._step if model._step > 0 else 1.0
        steps = max(1, min(self.max_steps, int(math.ceil(self.horizon / step))))
        fc = model.forecast(steps)
        hit = self.crossing(fc) if fc.times else None
        labels = dict(labels or {})
        name = labels.get("__name__", "metric")
        word = "reach" if self.above else "fall to"
        if hit is None:
            self.quiet += 1
            if self.active and self.quiet >= self.clear_after:
                self.active = False
                return Signal(
                    time=now, source="detector:forecast", kind=SignalKind.PREDICTION, service=service,
                    labels=labels, status="resolved",
                    text=f"{name} no longer forecast to {word} {self.threshold:g} within {_span(self.horizon)}",
                    values={"threshold": self.threshold},
                    evidence={"forecast": fc.to_dict(), "horizon_seconds": self.horizon},
                )
            return None
        self.quiet = 0
        if self.active:
            return None
        self.active = True
        t_cross, v = hit
        eta = max(0.0, t_cross - now)
        return Signal(
            time=now,
            source="detector:forecast",
            kind=SignalKind.PREDICTION,
            service=service,
            labels=labels,
            severity=Severity.WARNING if eta > self.horizon / 2 else Severity.ERROR,
            text=f"{name} forecast to {word} {self.threshold:g} in {_span(eta)}",
            values={
                "threshold": self.threshold,
                "eta_seconds": eta,
                "forecast_at_crossing": v,
                "crossing_time": t_cross,
            },
            evidence={"forecast": fc.to_dict(), "horizon_seconds": self.horizon},
        )


def _span(seconds: float) -> str:
    """A duration as a person reads it: ``40 s``, ``12 min``, ``5.5 h``, ``3.2 d``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
