"""What a tuning session leaves: one record per trial and the best of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Direction", "TrialResult", "TrialState", "TuningResult"]

Direction = Literal["minimize", "maximize"]
TrialState = Literal["running", "complete", "pruned", "failed", "killed"]


@dataclass
class TrialResult:
    """One trial: its parameters, how it ended, its objective value and the run that holds it."""

    number: int
    params: dict[str, Any]
    run_id: str
    state: TrialState = "running"
    value: float | None = None
    error: str | None = None
    duration_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "state": self.state, "value": self.value, "params": self.params,
                "run_id": self.run_id, "error": self.error, "duration_s": self.duration_s}


@dataclass
class TuningResult:
    """A finished tuning session: every trial, in the order they started, under one parent run."""

    parent_run_id: str
    experiment_id: str
    metric: str
    direction: Direction
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def completed(self) -> list[TrialResult]:
        return [trial for trial in self.trials if trial.state == "complete" and trial.value is not None]

    @property
    def best(self) -> TrialResult | None:
        """The completed trial with the best value (the earliest of equals); None when none completed."""
        sign = 1.0 if self.direction == "minimize" else -1.0
        done = self.completed
        return min(done, key=lambda t: (sign * (t.value or 0.0), t.number)) if done else None

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self.best
        return None if best is None else dict(best.params)

    @property
    def best_value(self) -> float | None:
        best = self.best
        return None if best is None else best.value

    @property
    def best_run_id(self) -> str | None:
        best = self.best
        return None if best is None else best.run_id
