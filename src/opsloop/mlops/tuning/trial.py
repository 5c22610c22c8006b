"""What an objective function receives: the drawn parameters and a way to report progress."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from opsloop.errors import InvalidInputError, OpsloopError

__all__ = ["Trial", "TrialFailedError", "finite"]


class TrialFailedError(OpsloopError, RuntimeError):
    """A trial failed for a reason its message tells whole: it is recorded without a traceback."""


def finite(value: Any, what: str) -> float:
    """``value`` as a float, or an InvalidInputError naming ``what`` (NaN, inf and non-numbers are refused)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}", field=what)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}", field=what) from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}", field=what)
    return number


class Trial(ABC):
    """One trial of a tuning session, as the objective sees it.

    ``params`` holds the drawn values and the fixed ones. The objective returns the trial's value of
    the tuned metric; on the way it may ``report`` intermediate values (so a pruner can stop a trial
    that is doing worse than the others) and log other metrics into the trial's run.
    """

    def __init__(self, params: Mapping[str, Any], metric: str) -> None:
        self.params: dict[str, Any] = dict(params)
        self.metric = metric
        self.last_step: int | None = None
        self.last_value: float | None = None

    def report(self, value: float, step: int) -> None:
        """An intermediate value of the tuned metric at ``step`` (epoch, boosting round…).

        Raises:
            optuna.TrialPruned (local) or stops the trial (Ray) when the pruner judges it hopeless:
            let it propagate.
        """
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:  # numpy ints too
            raise InvalidInputError(f"step must be a non-negative integer, got {step!r}", field="step")
        step = int(step)
        number = finite(value, "value")
        self.last_step, self.last_value = step, number
        self._report(number, step)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Another metric of the trial's run (accuracy beside a tuned loss, say)."""
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        checked = {str(key): finite(value, str(key)) for key, value in metrics.items()}
        if self.metric in checked:
            raise InvalidInputError(f"report the tuned metric {self.metric!r} with report(value, step)",
                                    field=self.metric)
        self._log(checked, step)

    @abstractmethod
    def _report(self, value: float, step: int) -> None: ...

    @abstractmethod
    def _log(self, metrics: dict[str, float], step: int | None) -> None: ...
