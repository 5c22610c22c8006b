"""Anomaly likelihood: how unusual the recent average surprise is for this series (after Numenta's HTM).

A spiky series gives an isolated point of high anomaly probability every so often; a sustained
change gives many surprising points in a row. ``AnomalyLikelihood`` averages the surprise
``-log(1 - p)`` of the last ``window`` probabilities and compares that average with a Gaussian
fitted to the history of the average on this series (the last ``history`` points, refitted every
``refit_every`` points, leaving out the first ``learning_period`` points while the detector settles).
Its answer is the Gaussian's CDF at the current average: close to 1 only when the recent surprise is
far above what this series usually shows.

The algorithm is the one of Numenta's ``anomaly_likelihood.py`` (nupic; the ``numenta`` detector
of NAB): a moving average of about ten raw scores, a Gaussian on its history, a learning period.
Two differences: the averaged score is the surprise of a calibrated probability (HTM averages its
raw prediction error), and the history is kept as one (count, sum, sum of squares) per block of
``refit_every`` points, so memory is bounded by ``history / refit_every`` blocks instead of
``history`` values.
"""

from __future__ import annotations

import math
from collections import deque

from opsloop.core.detectors import Estimator
from opsloop.errors import InvalidInputError

__all__ = ["AnomalyLikelihood"]

_log, _erfc = math.log, math.erfc
_SQRT_HALF = math.sqrt(0.5)


class AnomalyLikelihood(Estimator):
    """Online likelihood of the recent average surprise of a stream of anomaly probabilities.

    Args:
        window: number of recent probabilities whose surprise is averaged.
        learning_period: points at the start whose average is not learned (the detector feeding
            this is still settling).
        estimation_samples: averages learned before the first fit; until then ``update`` returns
            ``None`` (successive averages share ``window - 1`` points, so 100 of them are only
            about ten independent values: the first fits are rough).
        history: points of history the Gaussian is fitted to (rounded down to whole blocks).
        refit_every: points per block; the Gaussian is refitted each time a block completes.
        max_surprise: cap on each point's surprise, so one saturated probability (p = 1) cannot
            dominate the average for ``window`` points.
        min_std: floor of the standard deviation of one point's surprise; the Gaussian's floor is
            ``min_std / sqrt(window)``. A calibrated detector's surprise is exponential with
            standard deviation 1; without a floor a flat series would make the slightest surprise
            infinitely unlikely.
    """

    def __init__(
        self,
        window: int = 10,
        learning_period: int = 288,
        estimation_samples: int = 100,
        history: int = 8640,
        refit_every: int = 100,
        max_surprise: float = 30.0,
        min_std: float = 1.0,
    ) -> None:
        if window < 1 or refit_every < 1 or history < refit_every or estimation_samples < 1:
            raise InvalidInputError(
                "need window >= 1, estimation_samples >= 1 and history >= refit_every >= 1", field="window"
            )
        if not max_surprise > 0.0 or not min_std > 0.0:
            raise InvalidInputError("max_surprise and min_std must be positive", field="min_std")
        self.window = window
        self.learning_period = learning_period
        self.estimation_samples = estimation_samples
        self.history = history
        self.refit_every = refit_every
        self.max_surprise = max_surprise
        self.min_std = min_std
        self._recent: deque[float] = deque(maxlen=window)
        self._seen = 0  # points given to update
        self._learned = 0  # averages learned (after the learning period)
        self._blocks: deque[tuple[float, float, float]] = deque(maxlen=history // refit_every)
        self._block = (0.0, 0.0, 0.0)  # count, sum, sum of squares of the block being filled
        self._mean = 0.0
        self._std = 0.0  # 0: not fitted yet

    @property
    def ready(self) -> bool:
        """Whether the Gaussian has been fitted (``update`` returns likelihoods)."""
        return self._std > 0.0

    def update(self, p: float) -> float | None:
        """Take the next point's anomaly probability; return the likelihood of the recent average.

        The likelihood is computed with the Gaussian fitted before this point (causal), then the
        average is learned. ``None`` until the first fit (after ``learning_period`` +
        ``estimation_samples`` points).
        """
        cap = self.max_surprise
        if p < 1.0:
            s = -_log(1.0 - p) if p > 0.0 else 0.0
            s = s if s < cap else cap
        else:  # p = 1, or NaN (not a probability: no surprise)
            s = cap if p == p else 0.0
        recent = self._recent
        recent.append(s)
        m = sum(recent) / len(recent)
        std = self._std
        like = None if std <= 0.0 else 1.0 - 0.5 * _erfc((m - self._mean) / std * _SQRT_HALF)
        self._seen += 1
        if self._seen > self.learning_period:
            self._learn(m)
        return like

    def _learn(self, m: float) -> None:
        n, total, squares = self._block
        n, total, squares = n + 1.0, total + m, squares + m * m
        learned = self._learned = self._learned + 1
        completed = n >= self.refit_every
        if completed:
            self._blocks.append((n, total, squares))
            self._block = (0.0, 0.0, 0.0)
        else:
            self._block = (n, total, squares)
        if learned >= self.estimation_samples and (completed or self._std <= 0.0):
            self._fit()

    def _fit(self) -> None:
        n, total, squares = self._block
        for bn, bt, bs in self._blocks:
            n, total, squares = n + bn, total + bt, squares + bs
        mean = total / n
        var = squares / n - mean * mean
        self._mean = mean
        self._std = max(math.sqrt(var) if var > 0.0 else 0.0, self.min_std / math.sqrt(self.window))
