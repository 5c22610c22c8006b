"""A tuning session written as runs: one parent run, one child run per trial, a summary at the end."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from opsloop.mlops.tuning.results import Direction, TrialResult, TrialState, TuningResult

if TYPE_CHECKING:
    from opsloop.mlops.tuning.space import SearchSpace
    from opsloop.sdk import Client, Run

__all__ = ["TrialRecorder"]

TAG = "opsloop.tuning"
_RUN_STATUS: dict[TrialState, str] = {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED",
                                      "killed": "KILLED"}
_ERROR_CHARS = 4000


class TrialRecorder:
    """Keeps each trial's run; safe to call from several threads (local trials run side by side)."""

    def __init__(self, client: Client, parent: Run, space: SearchSpace, metric: str, direction: Direction) -> None:
        self.client, self.parent, self.space = client, parent, space
        self.result = TuningResult(parent.id, parent.experiment_id, metric, direction)
        self._lock = threading.Lock()
        # set by Ctrl-C: trials running in other threads stop at their next report (a program is stopped)
        self.stopping = threading.Event()
        # per open trial: its record, run, start (monotonic) and last reported (step, value, timestamp ms)
        self._open: dict[Hashable, tuple[TrialResult, Run, float, tuple[int, float, int] | None]] = {}
        parent.log_text(json.dumps(space.describe(), indent=2), "tuning/space.json")

    def start(self, key: Hashable, params: Mapping[str, Any], number: int | None = None) -> Run:
        """Open the run of a new trial (``number`` defaults to the count of trials started so far)."""
        with self._lock:
            number = len(self.result.trials) if number is None else number
            record = TrialResult(number, {**self.space.fixed, **params}, run_id="")
            self.result.trials.append(record)
        try:
            run = self.client.start_run(
                experiment_id=self.parent.experiment_id, run_name=f"{self.parent.name}-trial-{number}",
                params=record.params, capture_git=False,
                tags={"mlflow.parentRunId": self.parent.id, f"{TAG}.trial": str(number), f"{TAG}.state": "running"})
        except BaseException:  # no run, no trial: it is not kept as one forever "running"
            with self._lock:
                self.result.trials.remove(record)
            raise
        record.run_id = run.id
        with self._lock:
            self._open[key] = (record, run, time.monotonic(), None)
        return run

    def log(self, key: Hashable, metrics: Mapping[str, float], step: int | None, *, reported: bool = False) -> None:
        """Metrics of a running trial; ``reported`` marks an intermediate value of the tuned metric."""
        record, run, started, last = self._open[key]
        timestamp = time.time_ns() // 1_000_000
        run.log_metrics(metrics, step=step, timestamp=timestamp)
        if reported:
            value = metrics[self.result.metric]
            self._open[key] = (record, run, started, (step or 0, value, timestamp))

    def finish(self, key: Hashable, state: TrialState, value: float | None = None, error: str | None = None, *,
               in_run: bool = False) -> None:
        """End a trial's run: its final value (unless just reported, or ``in_run``), its state and any error."""
        with self._lock:
            record, run, started, last = self._open.pop(key)
        record.state, record.value, record.error = state, value, error
        record.duration_s = round(time.monotonic() - started, 3)
        tags: dict[str, str] = {f"{TAG}.state": state}
        if error:
            tags[f"{TAG}.error"] = error[-_ERROR_CHARS:]
        try:
            if value is not None and not in_run and (last is None or last[1] != value):
                # at the last reported step, but later: the run's latest value is the trial's value
                step, timestamp = (last[0], max(time.time_ns() // 1_000_000, last[2] + 1)) if last else (0, None)
                run.log_metric(self.result.metric, value, step=step, timestamp=timestamp)
            run.set_tags(tags)
        finally:
            run.end(_RUN_STATUS[state])

    def abandon(self, state: TrialState = "killed") -> None:
        """End every trial still open (the session was interrupted or its backend failed)."""
        for key in list(self._open):
            self.finish(key, state, error="the tuning session stopped before the trial ended")

    def summarise(self) -> TuningResult:
        """Write the best-so-far curve, the best parameters and every trial into the parent run."""
        result, parent = self.result, self.parent
        sign = 1.0 if result.direction == "minimize" else -1.0
        best_so_far: float | None = None
        for trial in sorted(result.completed, key=lambda t: t.number):
            value = trial.value if trial.value is not None else 0.0
            if best_so_far is None or sign * value < sign * best_so_far:
                best_so_far = value
            parent.log_metric(result.metric, best_so_far, step=trial.number)
        counts = {state: sum(t.state == state for t in result.trials) for state in _RUN_STATUS}
        tags = {f"{TAG}.trials": str(len(result.trials)), **{f"{TAG}.{s}": str(n) for s, n in counts.items()}}
        best = result.best
        if best is not None:
            parent.log_params(best.params)
            tags.update({f"{TAG}.best_trial": str(best.number), f"{TAG}.best_run_id": best.run_id})
        parent.set_tags(tags)
        trials = [trial.as_dict() for trial in sorted(result.trials, key=lambda t: t.number)]
        parent.log_text(json.dumps(trials, indent=2, default=str), "tuning/trials.json")
        return result
