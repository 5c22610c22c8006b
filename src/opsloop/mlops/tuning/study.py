"""``tune``: search hyperparameters with Optuna (here) or Ray Tune (a Ray cluster), every trial a run."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from opsloop.errors import InvalidInputError, InvalidStateError, MissingDependencyError, OpsloopError
from opsloop.mlops.tuning.recording import TAG, TrialRecorder
from opsloop.mlops.tuning.results import Direction, TuningResult
from opsloop.mlops.tuning.space import SearchSpace
from opsloop.mlops.tuning.trial import Trial

if TYPE_CHECKING:
    import os

    from opsloop.sdk import Client

__all__ = ["TuningOptions", "tune"]

Backend = Literal["local", "ray"]
_DIRECTIONS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}


def _positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}", field=name)


@dataclass(frozen=True)
class TuningOptions:
    """How a tuning session searches; checked when built (errors name the option)."""

    metric: str
    direction: Direction = "minimize"
    n_trials: int = 20
    concurrency: int = field(default=1)
    timeout_s: float | None = None
    seed: int | None = None
    sampler: Literal["tpe", "random"] = "tpe"
    pruning: bool = False
    pruning_startup_trials: int = 3
    backend: Backend = "local"
    ray_address: str | None = None
    cpus_per_trial: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise InvalidInputError("metric must name the metric to tune", field="metric")
        if self.direction not in ("minimize", "maximize"):
            raise InvalidInputError(f"direction must be minimize or maximize, got {self.direction!r}",
                                    field="direction")
        for name in ("n_trials", "concurrency", "pruning_startup_trials"):
            _positive_int(getattr(self, name), name)
        if self.timeout_s is not None and not (isinstance(self.timeout_s, int | float) and self.timeout_s > 0):
            raise InvalidInputError(f"timeout_s must be a positive number, got {self.timeout_s!r}", field="timeout_s")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidInputError(f"seed must be an integer, got {self.seed!r}", field="seed")
        if self.sampler not in ("tpe", "random"):
            raise InvalidInputError(f"sampler must be tpe or random, got {self.sampler!r}", field="sampler")
        if self.backend not in ("local", "ray"):
            raise InvalidInputError(f"backend must be local or ray, got {self.backend!r}", field="backend")
        if not (isinstance(self.cpus_per_trial, int | float) and self.cpus_per_trial > 0):
            raise InvalidInputError(f"cpus_per_trial must be positive, got {self.cpus_per_trial!r}",
                                    field="cpus_per_trial")


def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError.for_extra(module, extra)


def tune(objective: Callable[[Trial], float], space: Mapping[str, Any] | SearchSpace, *, metric: str,
         direction: str = "minimize", n_trials: int = 20, experiment: str | None = None, url: str | None = None,
         data_dir: str | os.PathLike[str] | None = None, client: Client | None = None, run_name: str | None = None,
         tags: Mapping[str, Any] | None = None, **options: Any) -> TuningResult:
    """Search ``space`` for the parameters that minimise (or maximise) ``metric``.

    Every trial is a run, nested under one parent run that ends with the best-so-far curve of
    ``metric``, the best trial's parameters as its params, and ``tuning/trials.json``. A trial that
    raises is recorded as failed and the search goes on; if no trial completes, the parent run
    ends FAILED and an ``InvalidStateError`` carries the first trial's error.

    Args:
        objective: called with a ``Trial`` (``trial.params``, ``trial.report(value, step)``,
            ``trial.log_metrics``); returns the trial's value of ``metric``.
        space: the search space (see ``opsloop.mlops.tuning.space``).
        metric: the metric's name in the runs.
        direction: ``minimize`` or ``maximize``.
        n_trials: how many trials to start.
        experiment, url, data_dir, client: where the runs go, as for ``opsloop.start_run``.
        run_name, tags: of the parent run.
        **options: the rest of ``TuningOptions``: ``concurrency`` (trials at once), ``timeout_s``,
            ``seed``, ``sampler`` (``tpe`` or ``random``), ``pruning`` (median pruning on reported
            values), ``backend`` (``local`` threads, or ``ray`` to run trials as Ray tasks, on a
            cluster at ``ray_address`` or a Ray started for the session), ``cpus_per_trial`` (Ray).
    """
    unknown = sorted(set(options) - set(TuningOptions.__dataclass_fields__) - {"metric", "direction", "n_trials"})
    if unknown:
        raise InvalidInputError(f"unknown tuning option {unknown[0]!r}", field=unknown[0])
    if not callable(objective):
        raise InvalidInputError("objective must be a function taking a Trial", field="objective")
    settings = TuningOptions(metric=metric, direction=_DIRECTIONS.get(str(direction).lower(), direction),  # type: ignore[arg-type]
                             n_trials=n_trials, **options)
    parsed = space if isinstance(space, SearchSpace) else SearchSpace.parse(space)
    _require("optuna", "tune")
    if settings.backend == "ray":
        _require("ray", "tune")
    from opsloop.sdk import Client

    own = client is None
    tracking = client if client is not None else Client(url, data_dir=data_dir)
    try:
        return _session(objective, parsed, settings, tracking, experiment, run_name, dict(tags or {}))
    finally:
        if own:
            tracking.close()


def _session(objective: Callable[[Trial], float], space: SearchSpace, options: TuningOptions, client: Client,
             experiment: str | None, run_name: str | None, tags: dict[str, Any]) -> TuningResult:
    tags.update({f"{TAG}.metric": options.metric, f"{TAG}.direction": options.direction,
                 f"{TAG}.backend": options.backend, f"{TAG}.sampler": options.sampler})
    parent = client.start_run(experiment, run_name=run_name, tags=tags)
    recorder = TrialRecorder(client, parent, space, options.metric, options.direction)
    try:
        if options.backend == "ray":
            from opsloop.mlops.tuning.distributed import run_ray

            run_ray(objective, recorder, options)
        else:
            from opsloop.mlops.tuning.local import run_local

            run_local(objective, recorder, options)
    except BaseException as exc:
        try:
            recorder.abandon()
            recorder.summarise()
            parent.end("FAILED" if isinstance(exc, Exception) else "KILLED")
        except OpsloopError as cleanup:  # the tracking server is gone: the error that stopped the search tells why
            exc.add_note(f"(recording the stopped search failed too: {cleanup.message})")
        raise
    recorder.abandon()  # a trial the backend never reported as ended (Ray Tune stopped by Ctrl-C, say)
    result = recorder.summarise()
    if not result.completed:
        parent.end("FAILED")
        first = next((t.error for t in result.trials if t.error), None)
        raise InvalidStateError(f"no trial of {len(result.trials)} completed" +
                                (f"; the first error:\n{first}" if first else ""))
    parent.end("FINISHED")
    return result
