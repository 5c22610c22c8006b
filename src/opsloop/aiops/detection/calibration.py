"""Turn raw anomaly scores into anomaly probabilities, online and in bounded memory.

A raw score (a robust z, a CUSUM statistic…) means different things on different series: a spiky
series makes z = 6 every day. ``TailCalibrator`` keeps a log-spaced histogram of the raw scores a
series has produced and answers with their empirical distribution; above a high quantile ``u`` it
fits an exponential tail (peaks over threshold), so scores beyond anything seen so far still get
distinct probabilities close to 1 instead of all saturating at ``1 - 1/n``.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from operator import mul

import numpy as np

from opsloop.core.detectors import Estimator
from opsloop.errors import InvalidInputError

__all__ = ["TailCalibrator"]

_BINS_PER_OCTAVE = 4
_MIN_RAW = 2.0**-10
_N_BINS = 40 * _BINS_PER_OCTAVE  # covers 2**-10 .. 2**30
_MAX_RAW = 2.0**30
_EDGES = [_MIN_RAW * 2.0 ** (k / _BINS_PER_OCTAVE) for k in range(_N_BINS + 1)]
_TAIL_EDGES = [e * 0.92 for e in _EDGES]  # approximate bin centres of the exponential tail fit
# per tail-quantile bin k, the excess of every bin centre over that bin's edge (filled on first use)
_EXCESS_OVER: list[list[float] | None] = [None] * (_N_BINS + 1)
_HILL_STEPS = [d - 0.5 for d in range(_N_BINS + 1)]  # log2 excess, in bins, of bin k + d's centre over k
_LOG_2 = math.log(2)
# _bin's arithmetic in float operands: the multiplication by 2**10 is the exact division by _MIN_RAW
_OVER_MIN_RAW = 1.0 / _MIN_RAW
_BINS_F = float(_BINS_PER_OCTAVE)
_log2, _floor = math.log2, math.floor  # floor: int() of a non-negative float, at a third of the cost
_accumulate = np.add.accumulate
_divide = np.true_divide


class TailCalibrator(Estimator):
    """Empirical CDF of raw scores with an exponential (POT) upper tail.

    Args:
        tail_quantile: quantile above which the exponential tail is fitted.
        min_samples: below this many learned scores, probabilities are 0 (no evidence yet).
        memory: counts are halved when they reach this total, so old behaviour fades.
        refit_every: the quantile and tail are refitted after this many updates (cost control).
        min_excess: floor of the tail's mean excess, relative to the tail quantile (exponential
            tail) or of the mean log excess (Pareto tail).
        excess_floor: absolute floor of the exponential tail's mean excess (in raw-score units).
        tail: ``"exponential"`` (light tails: Gaussian-like noise) or ``"pareto"`` (the tail index
            is estimated by Hill's estimator, so a spiky series needs a far larger spike).
    """

    def __init__(
        self,
        tail_quantile: float = 0.97,
        min_samples: int = 50,
        memory: int = 4000,
        refit_every: int = 16,
        min_excess: float = 0.25,
        tail: str = "exponential",
        excess_floor: float = 1e-3,
    ) -> None:
        if tail not in ("exponential", "pareto"):
            raise InvalidInputError("tail must be 'exponential' or 'pareto'", field="tail")
        self.tail_quantile = tail_quantile
        self.min_samples = min_samples
        self.memory = memory
        self.refit_every = refit_every
        self.min_excess = min_excess
        self.tail = tail
        self.excess_floor = excess_floor
        self._counts = array("d", bytes(8 * (_N_BINS + 1)))  # compact: 8 bytes a bin
        self._total = 0.0
        self._seen = 0
        self._since_fit = 0
        self._cdf = array("d")
        self._q = math.inf
        self._excess = 1.0
        self._top = 0

    @staticmethod
    def _bin(raw: float) -> int:
        if raw <= _MIN_RAW:
            return 0
        if raw >= _MAX_RAW:
            return _N_BINS
        k = int(math.log2(raw / _MIN_RAW) * _BINS_PER_OCTAVE) + 1
        return k if k < _N_BINS else _N_BINS

    @staticmethod
    def _edge(k: int) -> float:
        """Upper edge of bin ``k``."""
        return _MIN_RAW * 2.0 ** (k / _BINS_PER_OCTAVE)

    def learn_one(self, raw: float) -> None:
        # _bin, inlined: this runs several times per point on the detection hot path
        if raw > _MIN_RAW:
            b = _floor(_log2(raw * _OVER_MIN_RAW) * _BINS_F) + 1 if raw < _MAX_RAW else _N_BINS
            if b > _N_BINS:
                b = _N_BINS
        elif raw >= 0.0:
            b = 0
        else:  # negative or NaN: not a score
            return
        self._counts[b] += 1.0
        if b > self._top:
            self._top = b
        total = self._total = self._total + 1.0
        self._seen += 1
        if total >= self.memory:
            self._counts = array("d", [c * 0.5 for c in self._counts])
            self._total *= 0.5
        since = self._since_fit = self._since_fit + 1
        if since >= self.refit_every or not self._cdf:
            self._fit()

    def _fit(self) -> None:
        self._since_fit = 0
        total = self._total
        counts = self._counts
        # a running sum then one division per bin, written over the previous CDF (numpy's accumulate
        # adds in order: the same values as itertools.accumulate, at a fraction of the cost)
        cdf = self._cdf
        if len(cdf) != _N_BINS + 1:  # the first fit: an exact-size copy (one built from bytes over-allocates)
            cdf = self._cdf = array("d", counts)
        running = np.frombuffer(cdf)
        _accumulate(np.frombuffer(counts), 0, None, running)
        _divide(running, total, running)
        k = bisect_left(cdf, self.tail_quantile, 0, _N_BINS)  # at most _N_BINS
        self._q = _EDGES[k]
        n_above = total * (1.0 - cdf[k])
        # the tail's bins, k + 1 .. _top (bins above the highest score seen are empty); each sum
        # adds its products in bin order, as a loop over the bins would
        top = self._top + 1
        if self.tail == "pareto":
            # Hill's estimator from log-spaced bins: mean log excess over the tail quantile
            logs = sum(map(mul, counts[k + 1 : top], _HILL_STEPS[1 : top - k])) * _LOG_2
            self._excess = max(logs / _BINS_PER_OCTAVE / n_above if n_above > 0 else 0.0, self.min_excess)
            return
        above = sum(map(mul, counts[k + 1 : top], _excess_over(k)[k + 1 : top]))
        # a floor on the tail scale keeps one-off outliers from making the tail infinitely thin
        self._excess = max(
            above / n_above if n_above > 0 else 0.0, self.min_excess * self._q, self.excess_floor
        )

    def probability(self, raw: float) -> float:
        """P(score < raw) under the learned distribution; 0 until ``min_samples`` were learned."""
        if self._seen < self.min_samples or raw != raw:
            return 0.0
        q = self._q
        if raw > q:
            if self.tail == "pareto":
                return 1.0 - (1.0 - self.tail_quantile) * (raw / q) ** (-1.0 / self._excess)
            return 1.0 - (1.0 - self.tail_quantile) * math.exp(-(raw - q) / self._excess)
        # _bin, inlined; raw <= q < _MAX_RAW here, and bin 0 has no bin below it
        if raw <= _MIN_RAW:
            return 0.0
        k = _floor(_log2(raw * _OVER_MIN_RAW) * _BINS_F) + 1
        c = self._cdf[(k if k < _N_BINS else _N_BINS) - 1]
        return c if c < self.tail_quantile else self.tail_quantile


def _excess_over(k: int) -> list[float]:
    """Each bin centre's excess over the upper edge of bin ``k`` (computed once per ``k``)."""
    excess = _EXCESS_OVER[k]
    if excess is None:
        q = _EDGES[k]
        excess = _EXCESS_OVER[k] = [e - q for e in _TAIL_EDGES]
    return excess
