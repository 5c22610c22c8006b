"""Live model quality once ground truth arrives: accuracy/F1 or MAE/RMSE over labelled samples."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.mlops.monitoring.records import PredictionSample

__all__ = ["PerformancePolicy", "PerformanceReport", "live_performance"]


@dataclass(frozen=True, slots=True)
class PerformancePolicy:
    """Bounds on live quality; ``None`` disables a bound.

    Attributes:
        min_accuracy: classification breach below this accuracy.
        max_mae, max_rmse: regression breach above these errors.
        min_labels: fewer labelled samples than this: no verdict.
        window: the newest labelled samples considered.
        confidence: a bound is breached only when the metric is beyond it with this (one-sided)
            confidence: accuracy's Wilson score interval, the normal approximation for the mean
            absolute or squared error. A model whose accuracy is 0.93 against a bound of 0.9 is
            observed below it in about 1 check of 6 over 30 labels (1 of 12 over 100) by the chance
            of which rows got labels; a breach opens an incident and may start a retraining. ``0``:
            the observed value alone.
    """

    min_accuracy: float | None = None
    max_mae: float | None = None
    max_rmse: float | None = None
    min_labels: int = 30
    window: int = 5000
    confidence: float = 0.99


@dataclass(slots=True)
class PerformanceReport:
    """Live metrics of one model and the bounds they break.

    Attributes:
        labelled_digest: a digest of the labelled samples the metrics were computed over (request id, row,
            prediction, label). It changes when a label comes or is corrected,
            or a sample scored before its label came, so a breach still firing over the same labels is
            told apart from one over new labels (``ModelMonitor.performance_due``).
    """

    model: str
    task: str
    labelled: int
    metrics: dict[str, float]
    breaches: dict[str, dict[str, float]]
    labelled_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "task": self.task, "labelled": self.labelled, "metrics": self.metrics,
                "breaches": self.breaches, "labelled_digest": self.labelled_digest}


def _digest(samples: Sequence[PredictionSample]) -> str:
    """A digest of ``samples``' request ids, rows, predictions and labels, in their order."""
    digest = hashlib.blake2b(digest_size=16)
    for s in samples:
        digest.update(json.dumps([s.request_id, s.row, s.prediction, s.label], default=str).encode())
    return digest.hexdigest()


def _scalar(v: Any) -> Any:
    while isinstance(v, list | tuple) and v:
        v = v[0] if len(v) == 1 else v[-1]
    return v


def _known(v: Any) -> bool:
    """A value to measure: not missing (``None``, or a NaN a label was stored as before labels were checked)."""
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _number(v: Any) -> float | None:
    """``v`` as a number when it is one, whatever its JSON type (``1``, ``1.0``, ``"1"``, ``true``); else ``None``."""
    if isinstance(v, bool | int | float):
        try:
            return float(v)
        except OverflowError:  # an integer past a float's range (a label stored before labels were checked)
            return None
    if isinstance(v, str):
        text = v.strip().lower()
        if text in ("true", "false"):
            return float(text == "true")
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return None


def _numbers(preds: list[Any], labels: list[Any]) -> tuple[list[float], list[float]] | None:
    """Predictions and labels as numbers when the model answers numbers and every label reads as one:
    a label posted as ``1.0`` or ``"1"`` is the class ``1``, ``"12.5"`` the value 12.5."""
    if any(isinstance(p, str) for p in preds):
        return None  # a model answering text classes: its labels are compared as text
    p, y = [_number(v) for v in preds], [_number(v) for v in labels]
    if any(v is None for v in p) or any(v is None for v in y):
        return None
    return [float(v) for v in p if v is not None], [float(v) for v in y if v is not None]


def _is_classification(preds: list[float], labels: list[float]) -> bool:
    """Numeric answers are classes when they and their labels are whole numbers of at most 20 values."""
    values = preds + labels
    return all(v.is_integer() for v in values) and len(set(values)) <= 20


def _regression_bounds_only(policy: PerformancePolicy) -> bool:
    """Whether ``policy`` bounds the MAE or RMSE and not the accuracy: the model is a regressor, though its
    answers may be whole numbers of few values (a count), which would otherwise be read as classes."""
    return (policy.max_mae is not None or policy.max_rmse is not None) and policy.min_accuracy is None


def live_performance(model: str, samples: Sequence[PredictionSample],
                     policy: PerformancePolicy | None = None, *, firing: Collection[str] = ()) -> PerformanceReport:
    """Metrics over labelled ``samples`` (newest ``policy.window``) and which bounds they break.

    A metric in ``firing`` (its breach was sent) stays breached while its observed value is past the bound:
    the confidence that found the breach is not asked again, so a metric whose confidence limit is near
    the bound does not fire and resolve (an incident each time) as labels come.
    """
    policy = policy or PerformancePolicy()
    window = samples[: policy.window]
    report = _measure(model, window, policy, firing)
    report.labelled_digest = _digest(window)
    return report


def _measure(model: str, samples: Sequence[PredictionSample], policy: PerformancePolicy,
             firing: Collection[str] = ()) -> PerformanceReport:
    """The metrics over ``samples`` and the bounds of ``policy`` they break."""
    pairs = [(_scalar(s.prediction), _scalar(s.label)) for s in samples if s.label is not None]
    pairs = [(p, y) for p, y in pairs if _known(p) and _known(y)]
    preds, labels = [p for p, _ in pairs], [y for _, y in pairs]
    if not pairs:
        return PerformanceReport(model, "unknown", 0, {}, {})
    breaches: dict[str, dict[str, float]] = {}
    numbers = _numbers(preds, labels)
    if numbers is None or (_is_classification(*numbers) and not _regression_bounds_only(policy)):
        p, y = ([str(v) for v in preds], [str(v) for v in labels]) if numbers is None else numbers
        acc = float(np.mean([a == b for a, b in zip(p, y, strict=True)]))
        metrics = {"accuracy": acc, "error_rate": 1 - acc}
        bound = policy.min_accuracy
        if len(pairs) >= policy.min_labels and bound is not None and acc < bound:
            upper = _wilson_upper(acc, len(pairs), _z(policy.confidence))
            if upper < bound or "accuracy" in firing:
                breaches["accuracy"] = {"observed": acc, "bound": bound, "upper_confidence": upper}
        return PerformanceReport(model, "classification", len(pairs), metrics, breaches)
    err = np.asarray(numbers[0], dtype=float) - np.asarray(numbers[1], dtype=float)
    mae, rmse = float(np.mean(np.abs(err))), float(math.sqrt(np.mean(err**2)))
    metrics = {"mae": mae, "rmse": rmse}
    if len(pairs) >= policy.min_labels:
        z = _z(policy.confidence)
        for name, value, bound in (("mae", mae, policy.max_mae), ("rmse", rmse, policy.max_rmse)):
            if bound is not None and value > bound:
                lower = _lower_error(err, name, z)
                if lower > bound or name in firing:
                    breaches[name] = {"observed": value, "bound": bound, "lower_confidence": lower}
    return PerformanceReport(model, "regression", len(pairs), metrics, breaches)


def _z(confidence: float) -> float:
    """The one-sided normal quantile of ``confidence`` (0 for none)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(confidence) if 0.5 < confidence < 1 else 0.0


def _wilson_upper(p: float, n: int, z: float) -> float:
    """The upper end of the Wilson score interval of a proportion ``p`` observed over ``n`` trials."""
    if z <= 0:
        return p
    z2 = z * z
    return (p + z2 / (2 * n) + z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))) / (1 + z2 / n)


def _lower_error(err: np.ndarray, name: str, z: float) -> float:
    """A lower confidence bound of the MAE or RMSE of ``err`` (the mean of the absolute or squared
    errors, less ``z`` standard errors)."""
    values = np.abs(err) if name == "mae" else err**2
    mean = float(np.mean(values))
    spread = z * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 and z > 0 else 0.0
    low = max(0.0, mean - spread)
    return low if name == "mae" else math.sqrt(low)
