"""Trials in this process with Optuna (TPE or random search, median pruning), side by side in threads."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opsloop.errors import OpsloopError
from opsloop.mlops.tuning.space import Choice, FloatRange, IntRange, Parameter
from opsloop.mlops.tuning.trial import Trial, TrialFailedError, finite

if TYPE_CHECKING:
    import optuna

    from opsloop.mlops.tuning.recording import TrialRecorder
    from opsloop.mlops.tuning.study import TuningOptions
    from opsloop.sdk import Run

__all__ = ["LocalTrial", "run_local"]


class LocalTrial(Trial):
    """A trial run in this process: reports go to Optuna's pruner and into the trial's run."""

    def __init__(self, optuna_trial: optuna.Trial, run: Run, recorder: TrialRecorder, params: dict[str, Any],
                 metric: str) -> None:
        super().__init__(params, metric)
        self.number = optuna_trial.number
        self.run = run
        self.value_in_run = False  # set by an objective whose program logged the final value itself
        self._optuna_trial, self._recorder = optuna_trial, recorder

    def _report(self, value: float, step: int) -> None:
        self._recorder.log(self.number, {self.metric: value}, step, reported=True)
        self.judge(value, step)

    def check_interrupted(self) -> None:
        """Raise ``KeyboardInterrupt`` when Ctrl-C stopped the session (in a trial outside the main thread)."""
        if self._recorder.stopping.is_set():
            raise KeyboardInterrupt("the tuning session was interrupted")

    def judge(self, value: float, step: int) -> None:
        """Hand a value already in the run to the pruner; raises ``optuna.TrialPruned`` to stop the trial."""
        import optuna

        self.check_interrupted()
        self._optuna_trial.report(value, step)
        if self._optuna_trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}: {self.metric}={value:g} is worse than the median")

    def _log(self, metrics: dict[str, float], step: int | None) -> None:
        self._recorder.log(self.number, metrics, step)


def _suggest(trial: optuna.Trial, name: str, param: Parameter) -> Any:
    if isinstance(param, FloatRange):
        return trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntRange):
        return trial.suggest_int(name, param.low, param.high, log=param.log, step=param.step)
    assert isinstance(param, Choice)
    return trial.suggest_categorical(name, param.choices)


def sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def run_local(objective: Callable[[Trial], float], recorder: TrialRecorder, options: TuningOptions) -> None:
    """Run ``options.n_trials`` trials; a failing trial is recorded and the search goes on."""
    import optuna

    space, metric = recorder.space, recorder.result.metric
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=options.pruning_startup_trials, n_warmup_steps=1)
              if options.pruning else optuna.pruners.NopPruner())
    study = optuna.create_study(direction=options.direction, sampler=sampler(options.sampler, options.seed),
                                pruner=pruner)

    unrecorded: list[OpsloopError] = []

    def one_trial(optuna_trial: optuna.Trial) -> float:
        params = {name: _suggest(optuna_trial, name, param) for name, param in space.searched.items()}
        try:
            run = recorder.start(optuna_trial.number, params, number=optuna_trial.number)
        except OpsloopError as exc:  # the tracking server is gone (say): no later trial could be recorded either
            unrecorded.append(exc)
            optuna_trial.study.stop()
            raise
        trial = LocalTrial(optuna_trial, run, recorder, {**space.fixed, **params}, metric)
        try:
            value = finite(objective(trial), f"the objective's return value ({metric})")
        except optuna.TrialPruned:
            recorder.finish(optuna_trial.number, "pruned")
            raise
        except Exception as exc:
            recorder.finish(optuna_trial.number, "failed", error=_described(exc))
            raise
        except BaseException as exc:  # Ctrl-C: the trial's run ends KILLED and the session stops
            recorder.finish(optuna_trial.number, "killed", error=_described(exc))
            raise
        recorder.finish(optuna_trial.number, "complete", value=value, in_run=trial.value_in_run)
        return value

    with _interrupt_sets(recorder.stopping), _no_traceback_for_failed_programs():
        study.optimize(one_trial, n_trials=options.n_trials, timeout=options.timeout_s, n_jobs=options.concurrency,
                       catch=(Exception,))
    if unrecorded:
        raise type(unrecorded[0])(f"the search stopped: trial {len(recorder.result.trials)} could not be recorded: "
                                  f"{unrecorded[0].message}", field=unrecorded[0].field) from unrecorded[0]


class _DropOwnTraceback(logging.Filter):
    """Optuna logs a failed trial with its traceback: for a ``TrialFailedError`` (a program that failed) that is
    a walk through opsloop's own code, after the message that already holds the program's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], TrialFailedError):
            record.exc_info = None
        return True


@contextmanager
def _no_traceback_for_failed_programs() -> Iterator[None]:
    handlers, quiet = list(logging.getLogger("optuna").handlers), _DropOwnTraceback()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


@contextmanager
def _interrupt_sets(stopping: threading.Event) -> Iterator[None]:
    """Ctrl-C also sets ``stopping``: with concurrency, Optuna waits for the running trials before the
    ``KeyboardInterrupt`` leaves ``optimize``, so they must learn of it to stop (a program is stopped)."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        stopping.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _described(error: BaseException) -> str:
    import traceback

    if isinstance(error, TrialFailedError):  # a traceback through opsloop's own code would tell nothing more
        return error.message
    return "".join(traceback.format_exception(error)).strip()
