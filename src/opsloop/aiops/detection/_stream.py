"""Per-series stream state shared by the single-purpose detectors.

Every univariate component needs the same few pieces: accept a point only when it is finite and
newer than the last one learned, a noise floor from the smallest step the series ever made (so a
series of discrete levels never gets a zero scale), slowly forgetting high and low water marks,
and a tail calibrator built from its parameters. They live here once. The state stays in the
detectors' own ``_``-prefixed attributes (``_last_t``, ``_floor``, ``_hi``, ``_lo``, ``_cal``), so
``state_dict()`` checkpoints keep their exact shape.
"""

from __future__ import annotations

import math

from opsloop.aiops.detection.calibration import TailCalibrator

__all__ = ["InOrderStream", "floor_from_step", "follow_marks", "make_calibrator", "scale_or_floor"]


class InOrderStream:
    """Mixin: ``_admit`` gates learning to finite values with strictly increasing timestamps.

    Duplicates and late points do not teach the model; a point without a timestamp is admitted.
    """

    _last_t: float

    def _admit(self, x: float, t: float | None) -> bool:
        if not math.isfinite(x):
            return False
        if t is not None:
            if t <= self._last_t:
                return False
            self._last_t = t
        return True


def floor_from_step(floor: float, previous: float, x: float) -> float:
    """The noise floor lowered to half of the step ``previous → x`` when that is smaller and non-zero."""
    d = 0.5 * abs(x - previous)
    return d if 0.0 < d < floor else floor


def scale_or_floor(scale: float, floor: float) -> float:
    """The scale, never below the noise floor (NaN or inf when neither is known yet)."""
    return scale if scale > floor else floor


def follow_marks(hi: float, lo: float, x: float, forget: float) -> tuple[float, float]:
    """High and low water marks after ``x``; each first moves ``forget`` of the range inwards."""
    shrink = forget * (hi - lo) if hi > lo else 0.0
    hi = x if x > hi - shrink else hi - shrink
    lo = x if x < lo + shrink else lo + shrink
    return hi, lo


def make_calibrator(params: dict | None, **defaults: object) -> TailCalibrator:
    """A ``TailCalibrator`` from a component's ``calibrator`` parameters over its own defaults."""
    return TailCalibrator(**{**defaults, **(params or {})})
