"""Streaming drift detectors for served features and model errors (``core.detectors.DriftDetector``).

``WindowPSIDetector`` watches one feature against its reference bins; ``PageHinkley`` watches a
stream of errors (|y - ŷ| or 0/1 misclassifications) for an upward shift once labels arrive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from opsloop.core.detectors import DriftDetector
from opsloop.mlops.monitoring.drift import psi

__all__ = ["PageHinkley", "WindowPSIDetector"]


class WindowPSIDetector(DriftDetector):
    """PSI of the last ``window`` values against reference bins.

    Args:
        edges: inner bin edges of the reference (``drift.build_profile`` stores them).
        proportions: reference share of each bin (``len(edges) + 1`` values).
        window: values compared at a time.
        threshold: drift when PSI exceeds it.
    """

    def __init__(self, edges: Sequence[float], proportions: Sequence[float], window: int = 500,
                 threshold: float = 0.2) -> None:
        self.edges = list(edges)
        self.proportions = list(proportions)
        self.window = window
        self.threshold = threshold
        self._bins: deque[int] = deque(maxlen=window)
        self._drift = False
        self._psi = 0.0

    def update(self, x: float) -> None:
        self._bins.append(int(np.searchsorted(self.edges, x, side="right")))
        self._drift = False
        if len(self._bins) == self.window:
            counts = np.bincount(np.fromiter(self._bins, dtype=int), minlength=len(self.edges) + 1)
            self._psi = psi(np.asarray(self.proportions), counts / self.window)
            self._drift = self._psi > self.threshold

    @property
    def drift_detected(self) -> bool:
        return self._drift

    @property
    def value(self) -> float:
        """PSI of the current window."""
        return self._psi


class PageHinkley(DriftDetector):
    """Page-Hinkley test for an increase of the mean of a stream (e.g. prediction errors).

    Args:
        delta: tolerated change of the mean.
        threshold: cumulative deviation that signals drift (lambda).
        min_instances: values seen before any verdict.
    """

    def __init__(self, delta: float = 0.005, threshold: float = 50.0, min_instances: int = 30) -> None:
        self.delta = delta
        self.threshold = threshold
        self.min_instances = min_instances
        self._n = 0
        self._mean = 0.0
        self._cum = 0.0
        self._min_cum = 0.0
        self._drift = False

    def update(self, x: float) -> None:
        if self._drift:  # start over after a detection
            self._n, self._mean, self._cum, self._min_cum = 0, 0.0, 0.0, 0.0
        self._n += 1
        self._mean += (x - self._mean) / self._n
        self._cum += x - self._mean - self.delta
        self._min_cum = min(self._min_cum, self._cum)
        self._drift = self._n >= self.min_instances and self._cum - self._min_cum > self.threshold

    @property
    def drift_detected(self) -> bool:
        return self._drift
