"""The default univariate detector: a seasonal baseline and a level-shift CUSUM on its residual.

The seasonal baseline catches points that leave the band expected at this phase of the cycle;
the CUSUM on the same residual catches sustained shifts too small to leave the band on any one
point. Each is calibrated on its own history; the ensemble's probability is the larger of the two.
"""

from __future__ import annotations

import math

from opsloop.aiops.detection.changepoint import ChangePointDetector
from opsloop.aiops.detection.seasonal import SeasonalBaseline
from opsloop.core.detectors import AnomalyDetector, ExpectedBand

__all__ = ["UnivariateEnsemble"]


class UnivariateEnsemble(AnomalyDetector):
    """Seasonal robust baseline + CUSUM level-shift detector on the seasonal residual.

    Args:
        seasonal: ``SeasonalBaseline`` parameters.
        shift: ``ChangePointDetector`` parameters (applied to the residual).
        absorb_shifts: when the CUSUM confirms a level shift, move the seasonal level to it at once
            (so a unit change or a deploy ends its episode instead of adapting slowly).
    """

    def __init__(self, seasonal: dict | None = None, shift: dict | None = None,
                 absorb_shifts: bool = False) -> None:
        self.seasonal = seasonal
        self.shift = shift
        self.absorb_shifts = absorb_shifts
        self._seasonal = SeasonalBaseline(**(seasonal or {}))
        self._shift = ChangePointDetector(**(shift or {}))
        self._parts = (0.0, 0.0)

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x):
            return 0.0
        p1 = self._seasonal.score_one(x, t)
        exp = self._seasonal.expected(t)
        p2 = self._shift.score_one(x - exp, t) if exp == exp else 0.0
        self._parts = (p1, p2)
        return p1 if p1 > p2 else p2

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not math.isfinite(x):
            return
        exp = self._seasonal.expected(t) if self._seasonal._n else math.nan
        if exp == exp:
            before = self._shift.changes
            self._shift.learn_one(x - exp, t)
            if self.absorb_shifts and self._shift.changes != before:
                # a confirmed level shift becomes the seasonal model's new level at once
                level = self._shift._base
                self._seasonal.shift_level(level)
                self._shift.rebase(level)
        self._seasonal.learn_one(x, t)

    def expected_band(self) -> ExpectedBand | None:
        return self._seasonal.expected_band()

    @property
    def parts(self) -> dict[str, float]:
        """Probabilities of the last scored point per component (for evidence)."""
        return {"seasonal": self._parts[0], "level_shift": self._parts[1]}
