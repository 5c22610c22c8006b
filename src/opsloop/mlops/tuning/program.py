"""Trials that run a program (``opsloop tune``): a training script that logs with mlflow or opsloop.

Each trial runs ``command`` with the trial's parameters appended as ``--name=value`` and, in its
environment, ``MLFLOW_RUN_ID`` naming the trial's run (``mlflow.start_run()`` continues it),
``MLFLOW_EXPERIMENT_ID`` and ``MLFLOW_TRACKING_URI``. The trial's value is the latest value of the
tuned metric the program logged into that run. While the program runs, the metric's new steps go
to the pruner; a trial it stops is sent SIGTERM (SIGKILL 10 s later). The program's output is kept
as the run's ``tuning/output.log``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.errors import InvalidInputError, StorageError
from opsloop.mlops.tuning.local import LocalTrial
from opsloop.mlops.tuning.trial import Trial, TrialFailedError

if TYPE_CHECKING:
    from opsloop.sdk import Client

__all__ = ["ProgramFailedError", "program_objective"]

_TAIL_CHARS = 3000


class ProgramFailedError(TrialFailedError):
    """A trial's program exited with an error, or logged no value of the tuned metric."""


def _found(executable: str, cwd: str | None) -> bool:
    if os.sep in executable:  # a path: relative to the folder the program runs in
        return os.access(os.path.join(cwd or ".", executable), os.X_OK)
    return shutil.which(executable) is not None


def _arguments(params: dict[str, object]) -> list[str]:
    def text(value: object) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [f"--{name}={text(value)}" for name, value in params.items()]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _how_it_ended(code: int) -> str:
    if code < 0:  # Popen's way of saying a signal ended it
        try:
            return f"was killed by signal {signal.Signals(-code).name} ({-code})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _tail(log: Path) -> str:
    text = log.read_text(encoding="utf-8", errors="replace")
    return text[-_TAIL_CHARS:].strip()


def program_objective(command: Sequence[str], *, tracking_uri: str | None, poll_s: float = 2.0,
                      cwd: str | None = None) -> Callable[[Trial], float]:
    """An objective that runs ``command`` once per trial (local backend only: it needs the trial's run)."""
    if not command or not all(isinstance(part, str) and part for part in command):
        raise InvalidInputError("program must be a command line (a list of strings or a string)", field="program")
    if not _found(command[0], cwd):
        hint = f" (a Python script runs as 'python {' '.join(command)}')" if command[0].endswith(".py") else ""
        raise InvalidInputError(f"{command[0]!r} is not a program found on PATH (or executable){hint}",
                                field="program")

    def objective(trial: Trial) -> float:
        if not isinstance(trial, LocalTrial):
            raise InvalidInputError("a program is tuned with the local backend", field="backend")
        client, run = trial._recorder.client, trial.run
        env = {**os.environ, "MLFLOW_RUN_ID": run.id, "MLFLOW_EXPERIMENT_ID": run.experiment_id}
        if tracking_uri:
            env["MLFLOW_TRACKING_URI"] = tracking_uri
        with tempfile.TemporaryDirectory(prefix="opsloop-trial-") as folder:
            log = Path(folder) / "output.log"
            with log.open("wb") as out:
                process = subprocess.Popen([*command, *_arguments(trial.params)], stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            try:
                _follow(process, trial, client, poll_s)
            finally:
                _stop(process)
                run.log_artifact(log, "tuning")
            if process.returncode != 0:
                raise ProgramFailedError(f"the program {_how_it_ended(process.returncode)}; its output ends:\n"
                                         f"{_tail(log)}")
        latest = {metric.key: metric.value for metric in client.get_run(run.id).metrics}
        if trial.metric not in latest:
            raise ProgramFailedError(f"the program logged no {trial.metric!r} into its run (MLFLOW_RUN_ID)")
        trial.value_in_run = True
        return latest[trial.metric]

    return objective


def _follow(process: subprocess.Popen[bytes], trial: LocalTrial, client: Client, poll_s: float) -> None:
    """Wait for the program, handing each new step of the tuned metric to the pruner."""
    judged = -1
    while process.poll() is None:
        trial._recorder.stopping.wait(poll_s)
        trial.check_interrupted()
        try:
            history = client.get_metric_history(trial.run.id, trial.metric)
        except StorageError:  # the server restarts: the program's client waits for it, and so does the pruner
            continue
        for point in sorted(history, key=lambda p: (p.step, p.timestamp)):
            if point.step > judged:
                judged = point.step
                trial.judge(point.value, point.step)
