"""Multivariate detection over a service's set of metrics: streaming half-space trees.

Half-space trees (Tan, Ting & Liu, 2011) split a bounded feature space at random dimensions and
halve it at each level; a point that falls in sparsely populated cells of the last reference
window is anomalous. Each metric is first mapped by a robust running z so that ±4 scales span
``[0, 1]`` (clipped to ``[-1, 2]``), so the trees never need the metrics' ranges. Memory and
time per point are fixed by ``n_trees`` and ``height``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from opsloop.aiops.detection.calibration import TailCalibrator
from opsloop.core.detectors import AnomalyDetector

__all__ = ["HalfSpaceTrees"]


class HalfSpaceTrees(AnomalyDetector):
    """Streaming half-space trees over a mapping of metric name → value.

    Args:
        n_trees: number of trees.
        height: depth of each tree (``2**height - 1`` inner nodes per tree).
        window_size: points per reference window (the mass profile is refreshed each window).
        size_limit: a node with fewer reference points than this stops the descent.
        scale_alpha: learning rate of the per-metric running location and scale.
        seed: random seed of the tree structure.
        calibrator: ``TailCalibrator`` parameters.
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        size_limit: float = 0.1,
        scale_alpha: float = 0.01,
        seed: int = 42,
        calibrator: dict | None = None,
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.size_limit = size_limit
        self.scale_alpha = scale_alpha
        self.seed = seed
        self.calibrator = calibrator
        self._cal = TailCalibrator(**(calibrator or {}))
        self._features: list[str] = []
        self._loc: list[float] = []
        self._scale: list[float] = []
        self._split_dim: list[list[int]] = []
        self._split_at: list[list[float]] = []
        self._ref: list[list[float]] = []
        self._cur: list[list[float]] = []
        self._count = 0
        self._windows = 0

    def _build(self, x: Mapping[str, float]) -> None:
        rng = random.Random(self.seed)
        self._features = sorted(x)
        d = len(self._features)
        self._loc = [float(x[f]) if math.isfinite(x[f]) else 0.0 for f in self._features]
        self._scale = [0.0] * d
        n_nodes = 2 ** (self.height + 1) - 1
        for _ in range(self.n_trees):
            lo, hi = [], []
            for _ in range(d):
                s = rng.random()
                half = 2.0 * max(s, 1.0 - s)
                lo.append(s - half)
                hi.append(s + half)
            dims, cuts = [0] * n_nodes, [0.0] * n_nodes
            stack = [(0, lo, hi)]
            while stack:
                node, nlo, nhi = stack.pop()
                if 2 * node + 1 >= n_nodes:
                    continue
                q = rng.randrange(d)
                mid = 0.5 * (nlo[q] + nhi[q])
                dims[node], cuts[node] = q, mid
                left_hi, right_lo = list(nhi), list(nlo)
                left_hi[q], right_lo[q] = mid, mid
                stack.append((2 * node + 1, nlo, left_hi))
                stack.append((2 * node + 2, right_lo, nhi))
            self._split_dim.append(dims)
            self._split_at.append(cuts)
            self._ref.append([0.0] * n_nodes)
            self._cur.append([0.0] * n_nodes)

    def _squash(self, x: Mapping[str, float]) -> list[float]:
        out = []
        for i, f in enumerate(self._features):
            v = x.get(f, math.nan)
            if not isinstance(v, int | float) or not math.isfinite(v):
                out.append(0.5)  # a missing or broken metric carries no evidence
                continue
            s = self._scale[i] if self._scale[i] > 1e-12 else 1e-12
            u = 0.5 + (v - self._loc[i]) / (8.0 * s)  # ±4 scales span the unit interval
            out.append(2.0 if u > 2.0 else (-1.0 if u < -1.0 else u))
        return out

    def _mass_score(self, u: list[float]) -> float:
        total = 0.0
        limit = self.size_limit * self.window_size
        for dims, cuts, ref in zip(self._split_dim, self._split_at, self._ref, strict=True):
            node, depth, n_nodes = 0, 0, len(ref)
            while 2 * node + 1 < n_nodes and ref[node] >= limit:
                node = 2 * node + 1 if u[dims[node]] < cuts[node] else 2 * node + 2
                depth += 1
            total += ref[node] * (1 << depth)
        return total

    def _raw(self, u: list[float]) -> float:
        best = self.n_trees * self.window_size * float(1 << self.height)
        return -math.log((self._mass_score(u) + 1.0) / (best + 1.0))

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        if not self._features or self._windows == 0:
            return 0.0
        return self._cal.probability(self._raw(self._squash(x)))

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        if not self._features:
            if not x:
                return
            self._build(x)
        u = self._squash(x)
        if self._windows:
            self._cal.learn_one(self._raw(u))
        for dims, cuts, cur in zip(self._split_dim, self._split_at, self._cur, strict=True):
            node, n_nodes = 0, len(cur)
            while True:
                cur[node] += 1.0
                if 2 * node + 1 >= n_nodes:
                    break
                node = 2 * node + 1 if u[dims[node]] < cuts[node] else 2 * node + 2
        self._learn_scale(x)
        self._count += 1
        if self._count >= self.window_size:
            self._ref, self._cur = self._cur, [[0.0] * len(c) for c in self._cur]
            self._count = 0
            self._windows += 1

    def _learn_scale(self, x: Mapping[str, float]) -> None:
        a = self.scale_alpha
        for i, f in enumerate(self._features):
            v = x.get(f, math.nan)
            if not isinstance(v, int | float) or not math.isfinite(v):
                continue
            dev = v - self._loc[i]
            s = self._scale[i]
            if s <= 0.0:
                self._scale[i] = abs(dev)
            else:
                lim = 3.0 * s
                dc = dev if -lim <= dev <= lim else (lim if dev > 0 else -lim)
                self._scale[i] = s + a * (abs(dc) - s)
                dev = dc
            self._loc[i] += a * dev
