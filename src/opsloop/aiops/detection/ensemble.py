"""The default univariate detector: a seasonal baseline and a level-shift CUSUM on its residual.

The seasonal baseline catches points that leave the band expected at this phase of the cycle;
the CUSUM on the same residual catches sustained shifts too small to leave the band on any one
point. Each is calibrated on its own history; the ensemble's probability is the larger of the two.
"""

from __future__ import annotations

import math

from opsloop.aiops.detection.calibration import TailCalibrator
from opsloop.aiops.detection.changepoint import ChangePointDetector
from opsloop.aiops.detection.novelty import RangeNoveltyDetector
from opsloop.aiops.detection.seasonal import SeasonalBaseline
from opsloop.aiops.detection.volatility import VolatilityDetector
from opsloop.core.detectors import AnomalyDetector, ExpectedBand
from opsloop.errors import InvalidInputError

__all__ = ["UnivariateEnsemble"]



class UnivariateEnsemble(AnomalyDetector):
    """Seasonal robust baseline + CUSUM level-shift detector on the seasonal residual.

    Args:
        seasonal: ``SeasonalBaseline`` parameters.
        shift: ``ChangePointDetector`` parameters (applied to the residual).
        sustain_alpha: rate of the running mean of |residual z| whose calibrated tail flags
            sustained deviations (0 turns this component off); ``sustain_clip`` caps each |z|.
        calibrator: ``TailCalibrator`` parameters of that component.
        volatility: ``VolatilityDetector`` parameters, True for its defaults, False to leave it out.
        novelty: ``RangeNoveltyDetector`` parameters, True for its defaults, False to leave it out.
        combine: ``"fisher"`` (Fisher's method over the components' tail probabilities: agreeing
            evidence reinforces) or ``"max"``.
        absorb_shifts: when the CUSUM confirms a level shift, move the seasonal level to it at once
            (so a unit change or a deploy ends its episode instead of adapting slowly).
    """

    def __init__(self, seasonal: dict | None = None, shift: dict | None = None,
                 absorb_shifts: bool = False, sustain_alpha: float = 0.1, sustain_clip: float = 10.0,
                 calibrator: dict | None = None, volatility: dict | bool = False,
                 novelty: dict | bool = True, combine: str = "fisher") -> None:
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
        self._seasonal = SeasonalBaseline(**(seasonal or {}))
        self._shift = ChangePointDetector(**(shift or {}))
        self._sustain_cal = TailCalibrator(**(calibrator or {}))
        self._zbar = 0.0
        self._parts = (0.0, 0.0, 0.0, 0.0, 0.0)

    def _abs_z(self, x: float, t: float | None) -> float:
        z = abs(self._seasonal.residual_z(x, t)[1])
        return z if z < self.sustain_clip else self.sustain_clip

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x) or not self._seasonal._n:
            return 0.0
        p1 = self._seasonal.score_one(x, t)
        exp = self._seasonal.expected(t)
        p2 = self._shift.score_one(x - exp, t) if exp == exp else 0.0
        p3 = 0.0
        if self.sustain_alpha > 0.0:
            zbar = self._zbar + self.sustain_alpha * (self._abs_z(x, t) - self._zbar)
            p3 = self._sustain_cal.probability(zbar)
        p4 = self._volatility.score_one(x, t) if self._volatility is not None else 0.0
        p5 = self._novelty.score_one(x, t) if self._novelty is not None else 0.0
        self._parts = (p1, p2, p3, p4, p5)
        if self.combine == "fisher":
            return _fisher(self._parts)
        return max(p1, p2, p3, p4, p5)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not math.isfinite(x):
            return
        exp = self._seasonal.expected(t) if self._seasonal._n else math.nan
        if self.sustain_alpha > 0.0 and exp == exp and self._seasonal._scale == self._seasonal._scale:
            self._zbar += self.sustain_alpha * (self._abs_z(x, t) - self._zbar)
            self._sustain_cal.learn_one(self._zbar)
        if exp == exp:
            before = self._shift.changes
            self._shift.learn_one(x - exp, t)
            if self.absorb_shifts and self._shift.changes != before:
                # a confirmed level shift becomes the seasonal model's new level at once
                level = self._shift._base
                self._seasonal.shift_level(level)
                self._shift.rebase(level)
        self._seasonal.learn_one(x, t)
        if self._volatility is not None:
            self._volatility.learn_one(x, t)
        if self._novelty is not None:
            self._novelty.learn_one(x, t)

    def expected_band(self) -> ExpectedBand | None:
        return self._seasonal.expected_band()

    @property
    def parts(self) -> dict[str, float]:
        """Probabilities of the last scored point per component (for evidence)."""
        return {"seasonal": self._parts[0], "level_shift": self._parts[1], "sustained": self._parts[2],
                "volatility": self._parts[3], "novelty": self._parts[4]}


def _fisher(parts: tuple[float, ...]) -> float:
    """Fisher's method: combine tail probabilities so agreeing components reinforce each other."""
    used = [p for p in parts if p > 0.0]
    if not used:
        return 0.0
    half = -sum(math.log(max(1.0 - p, 1e-300)) for p in used)  # chi-square / 2, 2k dof
    term, total = 1.0, 1.0
    for j in range(1, len(used)):
        term *= half / j
        total += term
    return 1.0 - math.exp(-half) * total


def _component(cls, params):
    if params is False or params is None:
        return None
    return cls(**(params if isinstance(params, dict) else {}))
