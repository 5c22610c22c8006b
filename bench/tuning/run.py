"""Tuning overhead benchmark: Optuna with the mlflow client (what MLflow users write today) against
``opsloop.mlops.tuning.tune``, the same search, in one run.

    python bench/tuning/run.py [--trials 100] [--steps 20]

The objective costs nothing (a quadratic), so the time is the tracking's: each trial logs its
parameters and ``--steps`` intermediate values (which the median pruner would read) into a run
nested under the search's parent run. Measured:

* ``optuna + mlflow -> MLflow server``: ``mlflow.start_run(nested=True)`` per trial, ``log_params``,
  one ``log_metric`` per step, against MLflow's own server (one worker, SQLite);
* ``optuna + mlflow async -> MLflow server``: the same with ``log_metric(..., synchronous=False)``;
* ``optuna + mlflow -> opsloop server``: the first code against opsloop's server (drop-in);
* ``opsloop tune -> opsloop server``: ``tune`` with the same sampler and seed.

Prints trials per second, milliseconds per trial and the ratios; every run is read back and counted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import optuna
from mlflow import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))
from run import Server  # noqa: E402  (bench/tracking/run.py: starts either server)

from opsloop.mlops.tuning import Trial, tune  # noqa: E402

SPACE = {"x": {"low": -4.0, "high": 4.0}, "y": {"low": 1, "high": 9}}


def value(x: float, y: int, step: int) -> float:
    return (x - 1) ** 2 + 0.1 * y + 1 / (step + 1)


def with_mlflow(url: str, trials: int, steps: int, *, synchronous: bool = True) -> tuple[float, str]:
    """Optuna's loop with the mlflow client, as its users write it (``synchronous=False``: MLflow's
    asynchronous logging, which queues the points and sends them from a thread)."""
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench-tuning")

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -4.0, 4.0), trial.suggest_int("y", 1, 9)
        with mlflow.start_run(nested=True, run_name=f"trial-{trial.number}"):
            mlflow.log_params({"x": x, "y": y})
            for step in range(steps):
                mlflow.log_metric("loss", value(x, y, step), step=step, synchronous=synchronous)
                trial.report(value(x, y, step), step)
        return value(x, y, steps - 1)

    started = time.perf_counter()
    with mlflow.start_run(run_name="search") as parent:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
        study.optimize(objective, n_trials=trials)
        mlflow.log_params(study.best_params)
    return time.perf_counter() - started, parent.info.run_id


def with_mlflow_async(url: str, trials: int, steps: int) -> tuple[float, str]:
    return with_mlflow(url, trials, steps, synchronous=False)


def with_opsloop(url: str, trials: int, steps: int) -> tuple[float, str]:
    def objective(trial: Trial) -> float:
        x, y = trial.params["x"], trial.params["y"]
        for step in range(steps):
            trial.report(value(x, y, step), step)
        return value(x, y, steps - 1)

    started = time.perf_counter()
    result = tune(objective, SPACE, metric="loss", n_trials=trials, seed=1, url=url, experiment="bench-tuning",
                  run_name="search")
    return time.perf_counter() - started, result.parent_run_id


def counted(url: str, parent: str, steps: int) -> int:
    """Trials read back, each with every step of its curve (a lost point fails the run)."""
    client = MlflowClient(url)
    experiment = client.get_run(parent).info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=5000)
    for run in children:
        history = client.get_metric_history(run.info.run_id, "loss")
        if sorted(m.step for m in history)[-steps:] != list(range(steps)):
            raise SystemExit(f"run {run.info.run_id} lost points: {len(history)} of {steps}")
    return len(children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, kind, work in (("optuna + mlflow -> MLflow server", "mlflow", with_mlflow),
                                  ("optuna + mlflow async -> MLflow server", "mlflow", with_mlflow_async),
                                  ("optuna + mlflow -> opsloop server", "opsloop", with_mlflow),
                                  ("opsloop tune -> opsloop server", "opsloop", with_opsloop)):
            server = Server(kind, Path(folder) / label.replace(" ", "_").replace(">", ""))
            server.start()
            try:
                seconds, parent = work(server.url, args.trials, args.steps)
                runs = counted(server.url, parent, args.steps)
            finally:
                server.stop()
            if runs != args.trials:
                raise SystemExit(f"{label}: {runs} trial runs of {args.trials}")
            figures[label] = seconds
            print(f"{label:40s} {args.trials / seconds:8.1f} trials/s  {1000 * seconds / args.trials:8.1f} ms/trial"
                  f"  ({runs} runs, {args.steps} points each, read back)", flush=True)
    anchor = figures["optuna + mlflow -> MLflow server"]
    for label, seconds in figures.items():
        print(f"{label:40s} {anchor / seconds:6.2f}x the anchor's trials/s")


if __name__ == "__main__":
    main()
