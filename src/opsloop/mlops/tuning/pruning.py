"""Median pruning, as Optuna's ``MedianPruner`` judges it, for trials that Ray runs.

A trial stops at a step when the best value it has reported so far is worse than the median of the
values that completed trials reported at that same step. Nothing is judged before
``startup_trials`` trials have completed, nor at step 0.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable

__all__ = ["MedianRule"]


class MedianRule:
    """The values each trial reported, step by step, and which trials completed."""

    def __init__(self, direction: str, startup_trials: int) -> None:
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.startup_trials = startup_trials
        self.reported: dict[Hashable, dict[int, float]] = {}
        self.completed: set[Hashable] = set()

    def should_stop(self, trial: Hashable, step: int, value: float) -> bool:
        """Record ``value`` at ``step`` for ``trial``; True when the trial should stop now."""
        history = self.reported.setdefault(trial, {})
        history[step] = value
        if step < 1 or len(self.completed) < self.startup_trials:
            return False
        others = [self.reported[other][step] for other in self.completed if step in self.reported[other]]
        if not others:
            return False
        best = min(self.sign * v for v in history.values())
        return best > self.sign * statistics.median(others)

    def complete(self, trial: Hashable) -> None:
        self.completed.add(trial)
