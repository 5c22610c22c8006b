"""Trials as Ray Tune tasks: on a Ray cluster (``ray_address``) or a Ray started for the session.

Optuna still draws the parameters (Ray's ``OptunaSearch``); Ray places the trials and, with
``pruning``, stops the ones below the median (``MedianStoppingRule``). The trials' runs are written
from this process (a Tune callback), so the workers need no access to the tracking server.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsloop.mlops.tuning.local import sampler
from opsloop.mlops.tuning.pruning import MedianRule
from opsloop.mlops.tuning.trial import Trial, finite

if TYPE_CHECKING:
    from opsloop.mlops.tuning.recording import TrialRecorder
    from opsloop.mlops.tuning.study import TuningOptions

__all__ = ["RayTrial", "run_ray"]

# What a trial reports besides the tuned metric, in flat keys (Tune flattens nested results for schedulers):
_STEP, _FINAL, _METRICS_STEP, _METRIC = "opsloop.step", "opsloop.final", "opsloop.metrics_step", "opsloop.metric."


class RayTrial(Trial):
    """A trial inside a Ray worker: reports go to Ray Tune, which hands them to the recording callback.

    Other metrics are sent with the next report (or the final value), in one result.
    """

    def __init__(self, params: dict[str, Any], metric: str) -> None:
        super().__init__(params, metric)
        self._pending: dict[str, float] = {}
        self._pending_step: int | None = None

    def _report(self, value: float, step: int) -> None:
        self.send(value, step, final=False)

    def _log(self, metrics: dict[str, float], step: int | None) -> None:
        self._pending.update(metrics)
        self._pending_step = step

    def send(self, value: float, step: int, *, final: bool) -> None:
        from ray import tune

        result: dict[str, Any] = {self.metric: value, _STEP: step, _FINAL: final, _METRICS_STEP: self._pending_step}
        result.update({_METRIC + key: number for key, number in self._pending.items()})
        self._pending, self._pending_step = {}, None
        tune.report(result)


def _trainable(config: dict[str, Any], objective: Callable[[Trial], float], metric: str,
               fixed: dict[str, Any]) -> None:
    trial = RayTrial({**fixed, **config}, metric)
    value = finite(objective(trial), f"the objective's return value ({metric})")
    trial.send(value, trial.last_step or 0, final=True)


def _recording_callback(recorder: TrialRecorder) -> Any:
    from ray import tune

    class Recording(tune.Callback):
        """Writes each trial's run from the driver. Tune pickles its callbacks with its own state (for a
        restore); the recorder, with its client and locks, stays out of that copy."""

        def __init__(self, recorder: TrialRecorder) -> None:
            self.recorder: TrialRecorder | None = recorder

        def __getstate__(self) -> dict[str, Any]:
            return {"recorder": None}

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            assert self.recorder is not None
            searched = self.recorder.space.searched
            self.recorder.start(trial.trial_id, {k: v for k, v in trial.config.items() if k in searched})

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                            **info: Any) -> None:
            assert self.recorder is not None
            metric = self.recorder.result.metric
            others = {key[len(_METRIC):]: value for key, value in result.items() if key.startswith(_METRIC)}
            if others:
                self.recorder.log(trial.trial_id, others, result.get(_METRICS_STEP))
            if not result.get(_FINAL) and metric in result:
                self.recorder.log(trial.trial_id, {metric: result[metric]}, result.get(_STEP), reported=True)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            assert self.recorder is not None
            last = trial.last_result or {}
            if last.get(_FINAL):
                self.recorder.finish(trial.trial_id, "complete", value=float(last[self.recorder.result.metric]))
            else:  # stopped by the scheduler before the objective returned
                self.recorder.finish(trial.trial_id, "pruned")

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            assert self.recorder is not None
            self.recorder.finish(trial.trial_id, "failed", error=_error_text(trial))

    return Recording(recorder)


def _median_scheduler(metric: str, rule: MedianRule) -> Any:
    """A Tune scheduler that stops a trial the median rule gives up on (Ray's own ``MedianStoppingRule``
    pauses trials when few have completed, and a paused function trial starts again from scratch)."""
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    class MedianStopping(FIFOScheduler):
        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            if result.get(_FINAL) or metric not in result:
                return str(TrialScheduler.CONTINUE)
            stop = rule.should_stop(trial.trial_id, int(result.get(_STEP) or 0), float(result[metric]))
            return str(TrialScheduler.STOP if stop else TrialScheduler.CONTINUE)

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
            if result.get(_FINAL):
                rule.complete(trial.trial_id)

    return MedianStopping()


def _searcher(optuna_search: type, timeout_s: float | None) -> type:
    """``OptunaSearch`` that draws no trial after ``timeout_s``, as Optuna's own ``timeout`` does (Tune's
    ``time_budget_s`` would also stop the running trials, and a search of long trials would complete none)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s

    class Deadline(optuna_search):
        def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
            if deadline is not None and time.monotonic() > deadline:
                return "FINISHED"  # ray.tune.search.Searcher.FINISHED: no more trials
            return super().suggest(trial_id)

    return Deadline


def _error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    return str(getattr(trial, "error_msg", None) or "the trial failed in its Ray worker")


def run_ray(objective: Callable[[Trial], float], recorder: TrialRecorder, options: TuningOptions) -> None:
    """Run the trials with Ray Tune; Ray is started here (and stopped after) unless it already runs."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.ray_address, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
    mode = "min" if options.direction == "minimize" else "max"
    searcher = _searcher(OptunaSearch, options.timeout_s)(
        recorder.space.distributions(), metric=options.metric, mode=mode,
        sampler=sampler(options.sampler, options.seed))
    scheduler = (_median_scheduler(options.metric, MedianRule(options.direction, options.pruning_startup_trials))
                 if options.pruning else FIFOScheduler())
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, objective=objective, metric=options.metric, fixed=recorder.space.fixed),
        {"cpu": options.cpus_per_trial})
    try:
        with tempfile.TemporaryDirectory(prefix="opsloop-tune-") as storage:
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=options.n_trials,
                                            max_concurrent_trials=options.concurrency),
                run_config=tune.RunConfig(name="opsloop", storage_path=storage, verbose=0,
                                          callbacks=[_recording_callback(recorder)]))
            tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
