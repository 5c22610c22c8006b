"""The default univariate detector: a seasonal baseline and the detectors that read its residual.

- the seasonal baseline catches points that leave the band expected at this phase of the cycle;
- a CUSUM on the same residual catches shifts too small to leave the band on any one point;
- a running mean of |residual z| catches a sustained deviation;
- range novelty catches a value beyond where the series has been for a long time;
- optionally, volatility change, sequence novelty and resonance novelty (a fuzzy ART memory of
  block patterns, after ARTime; docs/benchmarks.md, 2026-12-07, gives its figures).

Each component is calibrated on its own history. By default their tail probabilities are combined
with Fisher's method, so that agreeing evidence reinforces: the result ranks anomalies well but,
because the components read the same residual, it is over-confident as a probability (it assumes
independence); ``combine="max"`` keeps a calibrated (conservative) probability instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from math import isfinite
from typing import Any

from opsloop.aiops.detection._stream import make_calibrator
from opsloop.aiops.detection.changepoint import ChangePointDetector
from opsloop.aiops.detection.novelty import RangeNoveltyDetector
from opsloop.aiops.detection.resonance import ResonanceDetector
from opsloop.aiops.detection.seasonal import SeasonalBaseline
from opsloop.aiops.detection.sequence import SequenceNoveltyDetector
from opsloop.aiops.detection.volatility import VolatilityDetector
from opsloop.core.detectors import AnomalyDetector, ExpectedBand
from opsloop.errors import InvalidInputError

__all__ = ["UnivariateEnsemble"]

_log, _exp = math.log, math.exp
_ADDED = {"resonance": False, "resonance_alone": False}  # parameters older checkpoints lack
_TERM_ORDERS = [range(1, k) for k in range(8)]  # the series' terms for k positive components (of seven)


class UnivariateEnsemble(AnomalyDetector):
    """Seasonal robust baseline, level shift, sustained deviation and range novelty, combined.

    Args:
        seasonal: ``SeasonalBaseline`` parameters.
        shift: ``ChangePointDetector`` parameters (applied to the residual).
        sustain_alpha: rate of the running mean of |residual z| whose calibrated tail flags
            sustained deviations (0 turns this component off); ``sustain_clip`` caps each |z|.
        calibrator: ``TailCalibrator`` parameters of that component.
        volatility: ``VolatilityDetector`` parameters, True for its defaults, False to leave it out.
        novelty: ``RangeNoveltyDetector`` parameters, True for its defaults, False to leave it out.
        sequence: ``SequenceNoveltyDetector`` parameters, True for its defaults, False to leave it out.
        resonance: ``ResonanceDetector`` parameters, True for its defaults, False to leave it out.
        resonance_alone: the resonance novelty's probability stands alone (the larger of it and the
            other components' combination) instead of being one more term of the combination.
        combine: ``"fisher"`` (Fisher's method over the components' tail probabilities: agreeing
            evidence reinforces) or ``"max"``.
        absorb_shifts: when the CUSUM confirms a level shift, move the seasonal level to it at once
            (so a unit change or a deploy ends its episode instead of adapting slowly).
    """

    def __init__(
        self,
        seasonal: dict | None = None,
        shift: dict | None = None,
        absorb_shifts: bool = False,
        sustain_alpha: float = 0.1,
        sustain_clip: float = 10.0,
        calibrator: dict | None = None,
        volatility: dict | bool = False,
        novelty: dict | bool = True,
        sequence: dict | bool = False,
        combine: str = "fisher",
        resonance: dict | bool = False,
        resonance_alone: bool = False,
    ) -> None:
        if combine not in ("fisher", "max"):
            raise InvalidInputError("combine must be 'fisher' or 'max'", field="combine")
        self.seasonal = seasonal
        self.shift = shift
        self.absorb_shifts = absorb_shifts
        self.sustain_alpha = sustain_alpha
        self.sustain_clip = sustain_clip
        self.calibrator = calibrator
        self.volatility = volatility
        self._volatility = _component(VolatilityDetector, volatility)
        self.novelty = novelty
        self.combine = combine
        self._novelty = _component(RangeNoveltyDetector, novelty)
        self.sequence = sequence
        self._sequence = _component(SequenceNoveltyDetector, sequence)
        self.resonance = resonance
        self._resonance = _component(ResonanceDetector, resonance)
        self.resonance_alone = resonance_alone
        self._seasonal = SeasonalBaseline(**(seasonal or {}))
        self._shift = ChangePointDetector(**(shift or {}))
        self._sustain_cal = make_calibrator(calibrator)
        self._zbar = 0.0
        self._parts = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        self._cache: tuple[float, float | None, float, float] | None = None

    def score_one(self, x: float, t: float | None = None) -> float:
        seasonal = self._seasonal
        if not isfinite(x) or not seasonal._n:
            return 0.0
        # the residual under the seasonal model is computed once per point (score, then learn)
        c = self._cache
        if c is not None and c[0] == x and c[1] == t:
            r, z = c[2], c[3]
        else:
            r, z = seasonal.residual_z(x, t)
            self._cache = (x, t, r, z)
        az = z if z >= 0.0 else -z
        p1 = seasonal._cal.probability(az)
        p2 = self._shift.score_one(r, t) if r == r else 0.0
        p3 = 0.0
        alpha = self.sustain_alpha
        if alpha > 0.0:
            zc = az if az < self.sustain_clip else self.sustain_clip
            zbar = self._zbar
            p3 = self._sustain_cal.probability(zbar + alpha * (zc - zbar))
        volatility, novelty, sequence = self._volatility, self._novelty, self._sequence
        p4 = volatility.score_one(x, t) if volatility is not None else 0.0
        p5 = novelty.score_one(x, t) if novelty is not None else 0.0
        p6 = sequence.score_one(x, t) if sequence is not None else 0.0
        resonance = self._resonance
        p7 = resonance.score_one(x, t) if resonance is not None else 0.0
        parts = self._parts = (p1, p2, p3, p4, p5, p6, p7)
        if self.resonance_alone:
            p = _fisher(parts[:6]) if self.combine == "fisher" else max(parts[:6])
            return p if p > p7 else p7
        if self.combine == "fisher":
            return _fisher(parts)
        return max(parts)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not isfinite(x):
            return
        seasonal = self._seasonal
        if seasonal._n:
            c = self._cache  # usually set by score_one for this very point
            if c is not None and c[0] == x and c[1] == t:
                r, z = c[2], c[3]
            else:
                r, z = seasonal.residual_z(x, t)
            alpha = self.sustain_alpha
            if alpha > 0.0 and r == r and seasonal._scale == seasonal._scale:
                az = z if z >= 0.0 else -z
                zc = az if az < self.sustain_clip else self.sustain_clip
                zbar = self._zbar = self._zbar + alpha * (zc - self._zbar)
                self._sustain_cal.learn_one(zbar)
            if r == r:
                shift = self._shift
                before = shift._changes
                shift.learn_one(r, t)
                if self.absorb_shifts and shift._changes != before:
                    # a confirmed level shift becomes the seasonal model's new level at once
                    level = self._shift._base
                    seasonal.shift_level(level)
                    self._shift.rebase(level)
        self._cache = None
        seasonal.learn_one(x, t)
        if self._volatility is not None:
            self._volatility.learn_one(x, t)
        if self._novelty is not None:
            self._novelty.learn_one(x, t)
        if self._sequence is not None:
            self._sequence.learn_one(x, t)
        if self._resonance is not None:
            self._resonance.learn_one(x, t)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        # a checkpoint written before the resonance options existed had them off
        params = state["config"].get("__dict__", {}).get("params", {}).get("__dict__")
        if isinstance(params, dict) and not _ADDED.keys() <= params.keys():
            config = state["config"]["__dict__"]
            params = {**_ADDED, **params}
            state = {**state, "config": {"__dict__": {**config, "params": {"__dict__": params}}}}
        super().load_state_dict(state)
        self._parts = (*self._parts, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)[:7]

    def expected_band(self) -> ExpectedBand | None:
        return self._seasonal.expected_band()

    @property
    def parts(self) -> dict[str, float]:
        """Probabilities of the last scored point per enabled component (for evidence)."""
        names = ("seasonal", "level_shift", "sustained", "volatility", "novelty", "sequence", "resonance")
        enabled = (
            True,
            True,
            self.sustain_alpha > 0.0,
            self._volatility is not None,
            self._novelty is not None,
            self._sequence is not None,
            self._resonance is not None,
        )
        return {n: p for n, p, on in zip(names, self._parts, enabled, strict=True) if on}


def _fisher(parts: tuple[float, ...]) -> float:
    """Fisher's method: combine tail probabilities so agreeing components reinforce each other."""
    half, k = 0.0, 0  # chi-square / 2 with 2k degrees of freedom
    for p in parts:
        if p > 0.0:
            k += 1
            half -= _log(1.0 - p) if p < 1.0 else -690.7755278982137
    if k == 0:
        return 0.0
    term = total = 1.0
    for j in _TERM_ORDERS[k]:
        term *= half / j
        total += term
    return 1.0 - _exp(-half) * total


def _component(cls, params):
    if params is False or params is None:
        return None
    return cls(**(params if isinstance(params, dict) else {}))
