"""Fairness: a metric computed per group of a sensitive column, and the gap between groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.mlops.validation.metrics import score_metrics

__all__ = ["GroupGap", "group_gap"]


@dataclass(slots=True)
class GroupGap:
    """``metric`` per group of ``column``; ``gap`` is the largest minus the smallest group value.

    ``gap`` is NaN when fewer than two groups have a value (groups under ``min_group_size``, one group in
    the data): a gap that was not measured must not pass a fairness rule.
    """

    metric: str
    column: str
    groups: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        vals = [v for v in self.groups.values() if not np.isnan(v)]
        return float(max(vals) - min(vals)) if len(vals) >= 2 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "column": self.column, "gap": self.gap, "groups": self.groups,
                "sizes": self.sizes, "skipped_small_groups": self.skipped}


def _group_value(task: str, metric: str, y: np.ndarray, pred: np.ndarray, scores: np.ndarray | None,
                 positive: Any) -> float:
    if metric == "tpr":
        mask = y == positive
        return float(np.mean(pred[mask] == positive)) if mask.any() else float("nan")
    if metric == "fpr":
        mask = y != positive
        return float(np.mean(pred[mask] == positive)) if mask.any() else float("nan")
    values = score_metrics(task, y, pred, scores, positive=positive)
    if metric not in values:
        return float("nan")
    return values[metric]


def group_gap(task: str, metric: str, column: str, frame: pd.DataFrame, y: Any, pred: Any,
              scores: Any = None, *, positive: Any = 1, min_group_size: int = 30) -> GroupGap:
    """Per-group ``metric`` (any of ``score_metrics``, plus ``tpr``/``fpr``) over ``frame[column]``.

    Groups smaller than ``min_group_size`` are left out (and listed in ``skipped``).

    Raises:
        InvalidInputError: the sensitive column is not in the data.
    """
    if column not in frame.columns:
        raise InvalidInputError(f"sensitive column {column!r} is not in the data", field=column)
    y, pred = np.asarray(y), np.asarray(pred)
    sc = None if scores is None else np.asarray(scores)
    out = GroupGap(metric=metric, column=column)
    keys = frame[column].astype(str).to_numpy()
    for g in sorted(set(keys)):
        mask = keys == g
        n = int(mask.sum())
        if n < min_group_size:
            out.skipped[g] = n
            continue
        out.sizes[g] = n
        out.groups[g] = _group_value(task, metric, y[mask], pred[mask], None if sc is None else sc[mask], positive)
    return out
