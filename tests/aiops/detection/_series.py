"""Synthetic series for detection tests, generated here (never the shared datasets)."""

from __future__ import annotations

import math
import random


def seasonal_series(n: int, period: int = 48, noise: float = 0.3, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [10.0 + 3.0 * math.sin(2 * math.pi * i / period) + rng.gauss(0.0, noise) for i in range(n)]


def metric_points(n: int, seed: int = 0) -> list[dict[str, float]]:
    """A service's correlated metrics: latency follows load."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        load = 100 + 20 * math.sin(2 * math.pi * i / 60) + rng.gauss(0, 2)
        out.append({"rps": load, "latency_ms": 0.5 * load + rng.gauss(0, 1), "errors": rng.random()})
    return out
