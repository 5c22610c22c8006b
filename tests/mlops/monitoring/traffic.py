"""Reference data and served traffic for the drift tests (normal columns, some of them shifted), and
scored requests with their labels for the live performance tests."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from opsloop.core.signals import Signal, SignalKind
from opsloop.mlops.monitoring import GroundTruth, PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore


def reference_frame(columns: tuple[str, ...], seed: int = 1) -> pd.DataFrame:
    """1,000 rows of standard normal ``columns``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.normal(size=1000) for c in columns})


def add_traffic(store: MonitoringStore, rows: int, shifts: dict[str, float], seed: int, model: str = "m") -> None:
    """``rows`` champion samples of ``model`` whose features are normal values plus their ``shifts``."""
    rng = np.random.default_rng(seed)
    start = time.time()
    store.add_samples([PredictionSample(model, f"r{seed}-{i}", 0, start + i / 1000,
                                        {c: float(rng.normal() + s) for c, s in shifts.items()}, 0.0)
                       for i in range(rows)])


def drift_states(signals: Iterable[Signal]) -> dict[str, str]:
    """Each feature's status in ``signals`` (the last one where a feature has several)."""
    return {s.labels["feature"]: s.status for s in signals}


def add_scored(store: MonitoringStore, predictions: Sequence[Any], start: int = 0, model: str = "m") -> None:
    """Champion samples of ``model`` that predicted ``predictions``, request ids ``p{start}``, ``p{start+1}``…"""
    now = time.time()
    store.add_samples([PredictionSample(model, f"p{start + i}", 0, now + i / 1000, {"a": 0.0}, p)
                       for i, p in enumerate(predictions)])


def add_labels(store: MonitoringStore, labels: Sequence[Any], start: int = 0, model: str = "m") -> None:
    """Ground truth for the requests ``add_scored`` names, from ``p{start}`` on."""
    store.add_labels([GroundTruth(model, f"p{start + i}", 0, y) for i, y in enumerate(labels)])


def performance_states(signals: Iterable[Signal]) -> dict[str, str]:
    """Each metric's status in the performance signals of ``signals`` (the last one where it has several)."""
    return {s.labels["metric"]: s.status for s in signals if s.kind == SignalKind.MODEL_PERFORMANCE}
