"""Resonance novelty: a recent shape that matches none of the shapes the series has shown before.

After the published ARTime algorithm (Hampton, 2021; an Adaptive Resonance Theory detector, the
leader of NAB), written here from its description. The stream is cut into blocks of ``block``
points; each block is reduced to one value (its mean, or its extreme when that stands out), scaled
into the series' range, quantised into ``levels`` and snapped to the running median when close to
it. The last ``window`` such values form a pattern: its Haar wavelet coefficients (of the pattern
rescaled to [0, 1]) beside the values themselves. A fuzzy ART memory of categories (complement-coded
hyper-boxes) is matched against the pattern; a category resonates when the match passes the upper
vigilance and then learns it (its box grows). Below the upper vigilance a new category is made;
below the lower vigilance it is also a new *cluster*: the pattern is novel. Both vigilances adapt
to the matches the series usually gets, and a novelty right after another one, or right after a
vigilance change, is masked unless it matches far worse. Novelties are what ARTime reports.

Differences from ARTime, for a causal, bounded stream: ARTime is given the whole file's minimum
and maximum; here the range is the one seen during the warm-up, widened by ``margin`` on each side
and then frozen (``freeze``; values beyond it are clipped), because a running range re-scales the
patterns the memory has learned (on NAB's development files that cost 20 points). The block
length is a parameter (ARTime derives it from NAB's probationary period); a block's extreme
stands out relative to the range (ARTime: 10 % of the mean); the median is taken over the last
``median_steps`` block values; the memory holds at most ``max_categories`` categories (the least
recently resonating one is replaced). A reported novelty of confidence ``c`` (ARTime's: how far
the match falls below both vigilances, plus how far the current level lies outside the
category's box) has probability ``1 - 10 ** -(digits + 6 c)``. ``output="match"`` gives instead
the calibrated mismatch ``1 - match`` of every block. Figures and why it is not in the default
ensemble: docs/benchmarks.md (2026-12-07).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from math import isfinite

import numpy as np

from opsloop.aiops.detection._stream import InOrderStream, make_calibrator
from opsloop.core.detectors import AnomalyDetector
from opsloop.errors import InvalidInputError

__all__ = ["ResonanceDetector"]


def _haar_matrix(n: int) -> np.ndarray:
    """Rows: the full orthonormal Haar analysis of ``n`` (a power of two) values, coarse to fine."""
    rows = [np.full(n, 1.0 / math.sqrt(n))]
    size = n
    while size > 1:
        half = size // 2
        for k in range(n // size):
            row = np.zeros(n)
            row[k * size : k * size + half] = 1.0
            row[k * size + half : (k + 1) * size] = -1.0
            rows.append(row / math.sqrt(size))
        size = half
    # order the detail rows from the coarsest scale to the finest
    return np.array(rows[:1] + sorted(rows[1:], key=lambda r: -int(np.count_nonzero(r))))


def _unit(v: np.ndarray) -> np.ndarray:
    """``v`` shifted and scaled onto [0, 1] (zeros when it is flat)."""
    lo = v.min()
    span = v.max() - lo
    return (v - lo) / span if span > 0.0 else np.zeros_like(v)


class ResonanceDetector(InOrderStream, AnomalyDetector):
    """Novel block patterns under a fuzzy ART memory with two adaptive vigilances.

    Args:
        block: points reduced to one value (ARTime: about probationary period / 104).
        window: block values per pattern (a power of two).
        levels: quantisation levels of the series' range.
        snap: a value closer than this (a fraction of the range) to the running median is set to it.
        spike_share: a block is represented by its extreme instead of its mean when the extreme is
            this far (a fraction of the range) from the mean.
        warmup: block steps learned before any novelty is reported; at its end the vigilance is
            set from the warm-up patterns, as ARTime does at the end of its probationary period.
        mask: block steps during which a new novelty is masked after one.
        max_categories: bound on the categories kept.
        median_steps: block values the running median is taken over.
        forget: fraction of the range the water marks move inwards per point (0: a running
            minimum and maximum).
        margin: fraction of the range added on each side before values are scaled into it.
        freeze: the range stops moving at the end of the warm-up.
        output: ``"novelty"`` (the probability of a reported novelty, 0 elsewhere) or
            ``"match"`` (the calibrated mismatch of every block).
        digits: nines of the probability of a novelty of confidence 0 (six more at confidence 1).
        calibrator: ``TailCalibrator`` parameters for ``output="match"``.
    """

    def __init__(
        self,
        block: int = 6,
        window: int = 8,
        levels: int = 80,
        snap: float = 0.075,
        spike_share: float = 0.5,
        warmup: int = 104,
        mask: int = 12,
        max_categories: int = 256,
        median_steps: int = 1024,
        forget: float = 0.0,
        margin: float = 0.25,
        freeze: bool = True,
        output: str = "novelty",
        digits: float = 1.0,
        calibrator: dict | None = None,
    ) -> None:
        if output not in ("novelty", "match"):
            raise InvalidInputError("output must be 'novelty' or 'match'", field="output")
        if window < 2 or window & (window - 1):
            raise InvalidInputError("window must be a power of two", field="window")
        self.block = block
        self.window = window
        self.levels = levels
        self.snap = snap
        self.spike_share = spike_share
        self.warmup = warmup
        self.mask = mask
        self.max_categories = max_categories
        self.median_steps = median_steps
        self.forget = forget
        self.margin = margin
        self.freeze = freeze
        self.output = output
        self.digits = digits
        self.calibrator = calibrator
        self._cal = make_calibrator({"tail": "pareto"} if calibrator is None else calibrator)
        self._last_t = -math.inf
        self._pending: list[float] = []  # values of the block being filled
        self._avg = math.nan  # fast average of block means (which extreme stands out)
        self._hi = -math.inf
        self._lo = math.inf
        self._recent: deque[float] = deque(maxlen=median_steps)  # block values, in order
        self._sorted: list[float] = []  # the same, sorted (running median)
        self._pattern: deque[float] = deque(maxlen=window - 1)  # the values before the next one
        self._steps = 0
        self._warm: list[list[float]] = []  # warm-up patterns, kept until the vigilance is set
        self._weights = np.zeros((0, 4 * window))  # one complement-coded box per category
        self._used = np.zeros(0)  # step of each category's last resonance
        self._rho_lo = 0.0
        self._rho_hi = 0.0
        self._match_sum = 0.0
        self._match_n = 0
        self._matches: deque[float] = deque(maxlen=warmup + 1)
        self._last_vigilance = 0
        self._masked = False
        self._quiet = 0  # steps since the last new cluster
        self._last_novelty = -(10**9)
        self._novelty_match = 0.0  # best match of the last reported novelty
        self._novelty_low = 0.0  # the lowest match in the mask after it
        self._novelty_sum = 0.0  # matches of past novelties (mean: a floor of the lower vigilance)
        self._novelty_n = 0
        self._confidence = 0.0
        self._since_new = 10**9  # points since the last block that made a new cluster
        self._cache: tuple[float, float | None, tuple | None] | None = None

    # ------------------------------------------------------------------ streaming verbs

    def score_one(self, x: float, t: float | None = None) -> float:
        if not isfinite(x) or len(self._pending) + 1 < self.block:
            return 0.0
        step = self._evaluate(x, t)
        if step is None:
            return 0.0
        if self.output == "match":
            return self._cal.probability(1.0 - step[1])
        return _probability(step[4], self.digits)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not self._admit(x, t):
            return
        self._since_new += 1
        if len(self._pending) + 1 < self.block:
            self._pending.append(x)
            return
        step = self._evaluate(x, t)
        self._cache = None
        self._pending = []
        if step is not None:  # None: values so large that their mean or range overflows
            self._commit(step)

    @property
    def confidence(self) -> float:
        """Confidence of the novelty reported at the last block (0 when none)."""
        return self._confidence

    @property
    def points_since_novel(self) -> int:
        """Points learned since the last block whose pattern made a new cluster (masked or not)."""
        return self._since_new

    # ------------------------------------------------------------------ one block step

    def _evaluate(self, x: float, t: float | None) -> tuple | None:
        """(features, best match, energy of it, matches, reported confidence, value, avg, hi, lo), not learned."""
        c = self._cache
        if c is not None and c[0] == x and c[1] == t:
            return c[2]
        vals = [*self._pending, x]
        mean = sum(vals) / len(vals)
        avg = mean if self._avg != self._avg else 0.5 * (self._avg + mean)
        hi, lo = self._marks(vals)
        value = self._representative(vals, mean, avg, hi - lo)
        finite = isfinite(value) and isfinite(hi - lo) and isfinite(avg)
        step: tuple | None = None  # a mean or range that overflows makes no step
        if finite and len(self._pattern) + 1 < self.window:
            step = (None, 1.0, 1.0, None, 0.0, value, avg, hi, lo)
        elif finite:
            feats = self._features(value, hi, lo)
            best, energy, matches = self._match(feats)
            confidence = self._novelty_confidence(best, energy)
            if confidence > 0.0 and not self._reports(self._steps + 1, best):
                confidence = 0.0
            step = (feats, best, energy, matches, confidence, value, avg, hi, lo)
        self._cache = (x, t, step)
        return step

    def _marks(self, vals: list[float]) -> tuple[float, float]:
        hi, lo = self._hi, self._lo
        if self.freeze and self._steps >= self.warmup and hi > lo:
            return hi, lo
        if self.forget > 0.0 and hi > lo:
            shrink = self.forget * len(vals) * (hi - lo)
            hi, lo = hi - shrink, lo + shrink
        return max(hi, *vals), min(lo, *vals)

    def _representative(self, vals: list[float], mean: float, avg: float, span: float) -> float:
        top, bottom = max(vals), min(vals)
        extreme = bottom if abs(bottom - avg) > abs(top - avg) else top
        return extreme if abs(extreme - mean) >= self.spike_share * span else mean

    def _features(self, value: float, hi: float, lo: float) -> np.ndarray:
        """The pattern ending with ``value``: Haar coefficients of its shape, then its levels."""
        pad = self.margin * (hi - lo)
        hi, lo = hi + pad, lo - pad
        span = hi - lo
        raw = np.array([*self._pattern, value])
        scaled = np.clip((raw - lo) / span, 0.0, 1.0) if span > 0.0 else np.zeros(len(raw))
        levels = np.round(scaled * self.levels) / self.levels
        if self._sorted:
            med = self._sorted[len(self._sorted) // 2]
            med = round(min(max((med - lo) / span, 0.0), 1.0) * self.levels) / self.levels if span > 0 else 0.0
            levels = np.where(np.abs(levels - med) < self.snap, med, levels)
        coeffs = _unit(_haar(self.window) @ _unit(levels))
        return np.concatenate([coeffs, levels])

    def _match(self, feats: np.ndarray) -> tuple[float, float, np.ndarray]:
        """Best match among the categories, the energy similarity of that category, all matches."""
        w = self._weights
        if not len(w):
            return 0.0, 0.0, np.zeros(0)
        coded = np.concatenate([feats, 1.0 - feats])
        common = np.minimum(w, coded)
        sizes = w.sum(axis=1)
        shape = common.sum(axis=1) / np.where(sizes > 0.0, sizes, 1e-3)
        # the current value's own dimension and its complement: is the level inside the box?
        d = len(feats)
        energy = (common[:, d - 1] + common[:, -1]) / np.maximum(w[:, d - 1] + w[:, -1], 1e-12)
        matches = shape**3 * energy**2
        k = int(np.argmax(matches))
        return float(matches[k]), float(energy[k]), matches

    def _novelty_confidence(self, best: float, energy: float) -> float:
        """How far below the vigilances the best match falls (0 when it is not a new cluster)."""
        if not self._rho_lo > best:
            return 0.0
        a = min(best, 0.999)
        below = (0.35 * (self._rho_hi - a) + 0.65 * (self._rho_lo - a)) / (1.0 - a)
        return min(1.0, below + 1.5 * (1.0 - energy))

    def _commit(self, step: tuple) -> None:
        feats, best, energy, matches, confidence, value, avg, hi, lo = step
        self._avg, self._hi, self._lo = avg, hi, lo
        self._remember(value)
        self._pattern.append(value)
        self._confidence = 0.0
        if feats is None:
            return
        self._steps += 1
        if self._steps <= self.warmup:
            self._warm.append(feats.tolist())
            if self._steps == self.warmup:
                self._settle()
            return
        if self.output == "match":
            self._cal.learn_one(1.0 - best)
        self._learn_step(feats, best, matches, confidence)

    def _remember(self, value: float) -> None:
        recent = self._recent
        if len(recent) == recent.maxlen:
            old = recent[0]
            del self._sorted[bisect_left(self._sorted, old)]
        recent.append(value)
        insort(self._sorted, value)

    # ------------------------------------------------------------------ ART memory

    def _learn_step(self, feats, best, matches, confidence) -> None:
        step = self._steps
        if self._masked and step > self.warmup + self.mask and self._quiet >= self.mask:
            self._masked = False
        new_cluster = self._present(feats, best, matches)
        self._quiet = 0 if new_cluster else self._quiet + 1
        self._match_sum += best
        self._match_n += 1
        self._matches.append(best)
        if step - self._last_novelty < self.mask and self._novelty_n and best < self._novelty_low:
            self._novelty_sum += best - self._novelty_low  # a novelty counts its lowest match, as ARTime's
            self._novelty_low = best
        if new_cluster:
            self._since_new = 0
            if confidence > 0.0:  # reported (see _reports)
                self._confidence = confidence
                self._last_novelty = step
                self._novelty_match = self._novelty_low = best
                self._novelty_sum += best
                self._novelty_n += 1
            self._masked = True
        if step - self._last_vigilance >= self.warmup // 2 or step - self._last_novelty == self.mask:
            self._adapt_vigilance(step)

    def _reports(self, step: int, best: float) -> bool:
        """Whether a new cluster at ``step`` is reported: not masked, or matching far worse than the last one."""
        if step <= self.warmup:
            return False
        masked = self._masked and not (step > self.warmup + self.mask and self._quiet >= self.mask)
        after_novelty = step - self._last_novelty <= self.mask
        if not (masked or after_novelty):
            return True
        return best < self._novelty_match * (0.9 if after_novelty else 0.7)

    def _present(self, feats: np.ndarray, best: float, matches: np.ndarray) -> bool:
        """Learn the pattern; True when it starts a new cluster (no category within the lower vigilance)."""
        coded = np.concatenate([feats, 1.0 - feats])
        if len(matches):
            resonant = matches >= self._rho_hi
            if resonant.any():
                self._weights[resonant] = np.minimum(self._weights[resonant], coded)
                self._used[resonant] = self._steps
                return False
        self._add_category(coded)
        return not (len(matches) and best >= self._rho_lo)

    def _add_category(self, coded: np.ndarray) -> None:
        if len(self._weights) < self.max_categories:
            self._weights = np.vstack([self._weights, coded])
            self._used = np.append(self._used, float(self._steps))
        else:
            k = int(np.argmin(self._used))
            self._weights[k] = coded
            self._used[k] = self._steps

    def _adapt_vigilance(self, step: int) -> None:
        """ARTime's rule: the upper vigilance is the mean match; the lower one follows the worst recent match."""
        hi = min(0.97, self._match_sum / self._match_n)
        recent = list(self._matches)
        lowest = min(recent[-(self.warmup // 2 + 1) :])
        lo = self._rho_lo
        if lo <= lowest:
            lo += 0.19 * (lowest - lo)
        else:
            short = [min(0.37, hi - m) for m in recent if hi - m > 0.05] if step > 2 * self.warmup else []
            lo -= 0.5 * max(0.01, sum(short) / len(short) if short else 0.0)
            if self._novelty_n:
                lo = max(lo, self._novelty_sum / self._novelty_n)
        self._rho_hi, self._rho_lo = hi, min(hi, lo)
        self._last_vigilance = step
        self._masked = True

    def _settle(self) -> None:
        """End of warm-up: set the vigilance from the warm-up patterns, then learn them in order."""
        feats = np.array(self._warm)
        self._warm = []
        self._rho_hi = self._rho_lo = _initial_vigilance(feats, self.max_categories)
        self._weights = np.zeros((0, feats.shape[1] * 2))
        self._used = np.zeros(0)
        for f in feats:
            best, _, matches = self._match(f)
            self._present(f, best, matches)
            self._match_sum += best
            self._match_n += 1
            self._matches.append(best)
        self._last_vigilance = self._steps
        self._masked = True


def _initial_vigilance(feats: np.ndarray, capacity: int) -> float:
    """Mean best match over the second half of the patterns presented, least typical first, at vigilance 0.8."""
    if len(feats) < 2:
        return 0.8
    norms = np.linalg.norm(feats, axis=1)
    safe = np.where(norms > 0.0, norms, 1.0)
    cos = (feats @ feats.T) / np.outer(safe, safe)
    order = np.argsort(cos.sum(axis=0), kind="stable")
    probe = ResonanceDetector(max_categories=capacity, window=feats.shape[1] // 4)
    probe._rho_hi = probe._rho_lo = 0.8
    probe._weights = np.zeros((0, feats.shape[1] * 2))
    best_matches = []
    for f in feats[order]:
        best, _, matches = probe._match(f)
        probe._present(f, best, matches)
        best_matches.append(best)
    return float(np.mean(best_matches[len(best_matches) // 2 :]))


_HAAR: dict[int, np.ndarray] = {}


def _haar(n: int) -> np.ndarray:
    m = _HAAR.get(n)
    if m is None:
        m = _HAAR[n] = _haar_matrix(n)
    return m


def _probability(confidence: float, digits: float) -> float:
    """A reported novelty as an anomaly probability: ``1 - 10**-digits`` at confidence 0, six more nines at 1."""
    if confidence <= 0.0:
        return 0.0
    return 1.0 - 10.0 ** (-digits - 6.0 * confidence)
