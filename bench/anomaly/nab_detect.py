"""Run opsloop's streaming detector over NAB files (causal: score, then learn, point by point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nab_scorer import read_series

from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.aiops.detection.ensemble import UnivariateEnsemble
from opsloop.aiops.detection.resonance import ResonanceDetector

__all__ = ["DETECTOR_CONFIG", "detect_file", "detect_series"]

# The one configuration used for every file (no per-file or per-category tuning).
DETECTOR_CONFIG: dict = {"detector": {}, "alerter": {}}  # the library defaults


def detect_file(path: Path, config: dict = DETECTOR_CONFIG) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, probability per row, NAB score per row).

    The NAB score column holds the signal's probability at the rows where the alerter raises a
    signal (an episode opens) and 0 elsewhere: NAB then scores the raised signals, as an operator
    sees them.
    """
    ts, values, _ = read_series(path)
    return detect_series(ts, values, config)


def detect_series(
    ts: np.ndarray, values: np.ndarray, config: dict = DETECTOR_CONFIG
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``detect_file`` on timestamps and values already read."""
    secs = (ts.astype("datetime64[s]").astype(np.int64)).astype(float).tolist()
    det = UnivariateEnsemble(**config["detector"])
    alerter = HysteresisAlerter(**config["alerter"])
    probs = np.zeros(len(values))
    raised = np.zeros(len(values))
    step = _resonance_step(det, config.get("resonance"))
    for i, (x, t) in enumerate(zip(values.tolist(), secs, strict=True)):
        if step is None:
            p = det.score_one(x, t)
            det.learn_one(x, t)
        else:
            p = step(x, t)
        probs[i] = p
        if alerter.step(p) == "firing":
            raised[i] = alerter.peak  # the probability the signal carries
    return ts, probs, raised


def _resonance_step(det: UnivariateEnsemble, spec: dict | None):
    """Config hook (off unless ``config["resonance"]`` is given): ``ResonanceDetector`` (with
    ``params``) used ``"alone"``, as a ``"gate"`` (the ensemble's probability passes only within
    ``lag`` points of a new resonance cluster, or when it reaches ``bypass``) or in ``"union"`` (the larger of both probabilities).
    As a Fisher term of the ensemble it needs no hook: ``{"detector": {"resonance": {...}}}``."""
    if not spec:
        return None
    art = ResonanceDetector(**spec.get("params", {}))
    use, lag, bypass = spec.get("use", "alone"), spec.get("lag", 30), spec.get("bypass", 1.0)

    def step(x: float, t: float) -> float:
        q = art.score_one(x, t)
        art.learn_one(x, t)
        if use == "alone":
            return q
        p = det.score_one(x, t)
        det.learn_one(x, t)
        if use == "gate":
            return p if art.points_since_novel <= lag or p >= bypass else 0.0
        return max(p, q)

    return step
