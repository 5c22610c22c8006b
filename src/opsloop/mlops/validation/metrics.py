"""Quality metrics of a model on labelled data: classification and regression."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from opsloop.errors import InvalidInputError

__all__ = ["CLASSIFICATION_METRICS", "REGRESSION_METRICS", "infer_task", "score_metrics"]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "auc", "log_loss", "selection_rate")
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")


def infer_task(y: Any) -> str:
    """``classification`` for booleans, strings or few distinct integers; else ``regression``."""
    arr = np.asarray(y)
    if arr.dtype.kind in "bOSU":
        return "classification"
    if arr.dtype.kind in "iu" or np.all(np.mod(arr, 1) == 0):
        return "classification" if len(np.unique(arr)) <= 20 else "regression"
    return "regression"


def _classification(y: np.ndarray, pred: np.ndarray, scores: np.ndarray | None,
                    positive: Any) -> dict[str, float]:
    classes = np.unique(np.concatenate([y, pred]))
    binary = len(classes) <= 2
    if len(classes) == 2 and positive not in classes:
        raise InvalidInputError(f"positive_label {positive!r} is not one of the labels "
                                f"{[c.item() if hasattr(c, 'item') else c for c in classes]}; set positive_label "
                                "in the policy", field="positive_label")
    avg = "binary" if binary else "macro"
    kw: dict[str, Any] = {"average": avg, "zero_division": 0}
    if binary:
        kw["pos_label"] = positive
    out = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred, **kw)),
        "recall": float(skm.recall_score(y, pred, **kw)),
        "f1": float(skm.f1_score(y, pred, **kw)),
    }
    if binary:
        out["selection_rate"] = float(np.mean(pred == positive))
    if scores is not None and len(np.unique(y)) > 1:
        try:
            if scores.ndim == 1:
                out["auc"] = float(skm.roc_auc_score(y == positive, scores))
                out["log_loss"] = float(skm.log_loss(y == positive, np.clip(scores, 1e-15, 1 - 1e-15),
                                                     labels=[False, True]))
            else:
                out["auc"] = float(skm.roc_auc_score(y, scores, multi_class="ovr"))
        except ValueError:
            pass  # scores that do not fit the labels: AUC stays unavailable
    return out


def _regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y, pred = y.astype(float), pred.astype(float)
    out = {"mae": float(skm.mean_absolute_error(y, pred)),
           "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
           "r2": float(skm.r2_score(y, pred)) if len(y) > 1 else float("nan")}
    nonzero = y != 0
    if nonzero.any():
        out["mape"] = float(np.mean(np.abs((y[nonzero] - pred[nonzero]) / y[nonzero])))
    return out


def score_metrics(task: str, y_true: Any, y_pred: Any, scores: Any = None, *, positive: Any = 1) -> dict[str, float]:
    """Every metric of ``task`` that the data allows (AUC and log-loss need ``scores``)."""
    y, pred = np.asarray(y_true), np.asarray(y_pred)
    if task == "classification":
        if y.dtype.kind in "OSU" or pred.dtype.kind in "OSU":
            y, pred = y.astype(str), pred.astype(str)
            positive = str(positive)
        return _classification(y, pred, None if scores is None else np.asarray(scores), positive)
    return _regression(y, pred)
