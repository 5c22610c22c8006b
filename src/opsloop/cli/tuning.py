"""``opsloop tune SPEC``: search hyperparameters by running a training program once per trial.

The spec is a YAML (or JSON) file::

    program: python train.py          # run from the spec file's folder, with --name=value per parameter
    metric: val_loss                  # what the program logs (mlflow.log_metric / opsloop) into its run
    direction: minimize
    n_trials: 20
    concurrency: 2                    # programs at once
    pruning: true                     # stop programs whose val_loss (by step) is worse than the median
    experiment: churn
    parameters:
      lr: {low: 0.0001, high: 0.1, log: true}
      depth: {low: 2, high: 8}

Exit codes: 0 at least one trial completed, 1 none did, 2 the spec or the options are wrong.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path
from typing import Any

import click

from opsloop.cli._output import emit, fail, json_text

__all__ = ["tune"]

_SESSION_KEYS = {"metric", "direction", "n_trials", "concurrency", "timeout_s", "seed", "sampler", "pruning",
                 "pruning_startup_trials"}
_KEYS = _SESSION_KEYS | {"program", "parameters", "experiment", "run_name"}


def _read_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text", 2)
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {exc}", 2)
    if not isinstance(doc, dict):
        fail(f"{path} must hold a mapping (program, metric, parameters, ...)", 2)
    unknown = sorted(str(key) for key in doc if key not in _KEYS)
    if unknown:
        fail(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})", 2)
    for key in ("program", "metric", "parameters"):
        if key not in doc:
            fail(f"{path}: {key!r} is missing", 2)
    return doc


def _command(program: Any) -> list[str]:
    if isinstance(program, str):
        return shlex.split(program)
    if isinstance(program, list) and all(isinstance(part, str) for part in program):
        return list(program)
    fail("program must be a command line: a string or a list of strings", 2)
    return []


def _short(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _rows(result: Any, *, exact: bool) -> tuple[list[dict[str, Any]], list[str]]:
    names = list(result.trials[0].params) if result.trials else []
    shown = (lambda v: v) if exact else _short
    rows = [{"trial": t.number, "state": t.state, result.metric: shown(t.value),
             **{k: shown(v) for k, v in t.params.items()}, "run": t.run_id}
            for t in sorted(result.trials, key=lambda t: t.number)]
    return rows, ["trial", "state", result.metric, *names, "run"]


@click.command("tune")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--n-trials", type=click.IntRange(min=1), default=None, help="Override the spec's n_trials.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Override the spec's concurrency.")
@click.option("--experiment", default=None, help="Override the spec's experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print the trials and the best one as JSON.")
@click.pass_context
def tune(ctx: click.Context, spec: Path, n_trials: int | None, concurrency: int | None, experiment: str | None,
         as_json: bool) -> None:
    """Search hyperparameters: run SPEC's program once per trial, each trial a run (needs --url)."""
    from opsloop.errors import MissingDependencyError, OpsloopError
    from opsloop.mlops.tuning import tune as run_tuning
    from opsloop.mlops.tuning.program import program_objective

    url = getattr(ctx.find_root().obj, "url", None)
    if not url or not url.startswith(("http://", "https://")):
        fail("opsloop tune runs programs that log over HTTP: give the server with --url (or OPSLOOP_URL)", 2)
    doc = _read_spec(spec)
    options = {key: doc[key] for key in _SESSION_KEYS if key in doc}
    options.update({k: v for k, v in (("n_trials", n_trials), ("concurrency", concurrency)) if v is not None})
    folder = str(spec.resolve().parent)
    # SIGTERM (docker stop, a scheduler's time limit, kill) stops the search as Ctrl-C does: the programs
    # are stopped and their runs end KILLED, instead of this process dying and leaving both behind
    signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(os.getpid(), signal.SIGINT))
    try:
        objective = program_objective(_command(doc["program"]), tracking_uri=url, cwd=folder)
        result = run_tuning(objective, doc["parameters"], url=url, experiment=experiment or doc.get("experiment"),
                            run_name=doc.get("run_name"), **options)
    except MissingDependencyError as exc:
        fail(exc.message, 2)
    except OpsloopError as exc:
        if exc.field is not None:  # the spec or an option
            where = "parameters" + exc.field[5:] if exc.field.startswith("space") else exc.field
            fail(f"{spec}: {where}: {exc.message}", 2)
        fail(exc.message, 1)
    rows, columns = _rows(result, exact=as_json)
    best = result.best
    if as_json:
        click.echo(json_text({"parent_run_id": result.parent_run_id, "metric": result.metric,
                              "best": None if best is None else best.as_dict(), "trials": rows}))
        return
    emit(rows, columns, as_json=False, title=f"tuning run {result.parent_run_id}")
    if best is not None:
        click.echo(f"best: trial {best.number}, {result.metric}={best.value:g}, "
                   f"{json.dumps(best.params)} (run {best.run_id})")
