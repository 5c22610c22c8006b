"""``opsloop experiments|runs|artifacts``: read tracking data from a server or the embedded store."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opsloop.cli._http import checked_url
from opsloop.cli._output import emit, fail
from opsloop.cli._store import missing_store

if TYPE_CHECKING:
    from opsloop.mlops.tracking.entities import Experiment, Run
    from opsloop.sdk import Client

__all__ = ["artifacts", "commands", "experiments", "runs"]

_VIEW = click.Choice(["active", "deleted", "all"])
_METRICS_IN_TABLE = 3


def _source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--url``, ``--data-dir`` and ``--json``, shared by every command here."""
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)
    command = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                           help="Embedded store folder (default: from opsloop settings).")(command)
    command = click.option("--url", default=None, metavar="URL", callback=checked_url,
                           help="Tracking server, e.g. http://127.0.0.1:5000 (default: the top-level --url, "
                                "OPSLOOP_URL or an http MLFLOW_TRACKING_URI, else the embedded store).")(command)
    return command


def _root_source() -> tuple[str | None, Path | None]:
    """The server or store folder given to ``opsloop`` itself (``opsloop --url …`` or its environment)."""
    root = click.get_current_context().find_root().obj
    url, data_dir = getattr(root, "url", None), getattr(root, "data_dir", None)
    if url and not url.startswith(("http://", "https://")):
        url = None  # an MLflow store URI (sqlite:, file:…), not a server these commands can read
    return url, Path(data_dir) if data_dir else None


def _client(url: str | None, data_dir: Path | None) -> Client:
    from opsloop.sdk import Client, Retries
    from opsloop.settings import load_settings

    if url:
        return Client(url, timeout=30.0, retries=Retries(attempts=2, backoff=0.2))
    settings = load_settings({"storage": {"data_dir": str(data_dir)}} if data_dir else None)
    missing = missing_store(settings.storage)
    if missing:
        fail(missing)
    return Client(settings=settings)


def _with_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Open the client from ``--url``/``--data-dir`` and pass it as the first argument."""
    @functools.wraps(command)
    def wrapper(url: str | None, data_dir: Path | None, **kwargs: Any) -> Any:
        if url is None and data_dir is None:
            url, data_dir = _root_source()
        with _client(url, data_dir) as client:
            return command(client, **kwargs)

    return _source_options(wrapper)


def _time(ms: int | None, short: bool = False) -> str | None:
    """UTC time of a millisecond timestamp, for people."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def _duration(run: Run) -> str | None:
    if run.info.end_time is None:
        return None
    seconds = max(0, run.info.end_time - run.info.start_time) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


# -- experiments -------------------------------------------------------------------------------------


def _experiment_row(e: Experiment) -> dict[str, Any]:
    return {"experiment_id": e.experiment_id, "name": e.name, "lifecycle_stage": e.lifecycle_stage,
            "artifact_location": e.artifact_location, "creation_time": e.creation_time,
            "last_update_time": e.last_update_time, "tags": dict(e.tags)}


def _search_experiments(client: Client, max_results: int | None, **query: Any) -> tuple[list[Experiment], bool]:
    """The first ``max_results`` experiments of a search, and whether more matched (one more is asked for)."""
    found = client.search_experiments(max_results=None if max_results is None else max_results + 1, **query)
    return (found, False) if max_results is None else (found[:max_results], len(found) > max_results)


def _emit_experiments(found: list[Experiment], as_json: bool, more: bool = False) -> None:
    rows = [_experiment_row(e) for e in found]
    if as_json:
        emit(rows, [], as_json=True)
        return
    table = [{**r, "created": _time(r["creation_time"])} for r in rows]
    emit(table, ["experiment_id", "name", "lifecycle_stage", "created", "artifact_location"], as_json=False)
    if more:
        _say_more_matched(len(found), "experiment")


@click.group()
def experiments() -> None:
    """List, search and show experiments."""


@experiments.command("list")
@click.option("--view", type=_VIEW, default="active", show_default=True, help="Which lifecycle stage to show.")
@click.option("--max-results", type=click.IntRange(min=1), default=None)
@_with_client
def experiments_list(client: Client, as_json: bool, view: str, max_results: int | None) -> None:
    """List experiments (all, or the first --max-results; stderr says when more match)."""
    found, more = _search_experiments(client, max_results, view=view)
    _emit_experiments(found, as_json, more)


@experiments.command("search")
@click.option("--filter", "filter_string", default=None, help="MLflow filter, e.g. \"name LIKE 'mnist%'\".")
@click.option("--order-by", multiple=True, help="e.g. 'name ASC' or 'creation_time DESC' (repeatable).")
@click.option("--view", type=_VIEW, default="active", show_default=True)
@click.option("--max-results", type=click.IntRange(min=1), default=None)
@_with_client
def experiments_search(client: Client, as_json: bool, filter_string: str | None, order_by: tuple[str, ...],
                       view: str, max_results: int | None) -> None:
    """Search experiments with a filter and ordering."""
    found, more = _search_experiments(client, max_results, filter=filter_string, order_by=order_by, view=view)
    _emit_experiments(found, as_json, more)


@experiments.command("show")
@click.argument("experiment")
@_with_client
def experiments_show(client: Client, as_json: bool, experiment: str) -> None:
    """Show one experiment (by id or name) and its tags."""
    exp = client.get_experiment(experiment)
    row = _experiment_row(exp)
    if as_json:
        emit([row], [], as_json=True)
        return
    info = [{"field": k, "value": _time(v) if k.endswith("_time") else v} for k, v in row.items() if k != "tags"]
    emit(info, ["field", "value"], as_json=False, title=f"experiment {exp.experiment_id}")
    if exp.tags:
        emit([{"key": k, "value": v} for k, v in sorted(exp.tags.items())], ["key", "value"], as_json=False,
             title="tags")


# -- runs --------------------------------------------------------------------------------------------


def _run_row(run: Run) -> dict[str, Any]:
    i = run.info
    return {
        "run_id": i.run_id, "run_name": i.run_name, "experiment_id": i.experiment_id, "status": i.status,
        "user_id": i.user_id, "start_time": i.start_time, "end_time": i.end_time, "artifact_uri": i.artifact_uri,
        "lifecycle_stage": i.lifecycle_stage,
        "metrics": {m.key: m.value for m in sorted(run.metrics, key=lambda m: m.key)},
        "params": dict(sorted(run.params.items())),
        "tags": dict(sorted(run.tags.items())),
        "inputs": [{"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source,
                    "source_type": d.dataset.source_type, "tags": d.tags} for d in run.dataset_inputs],
    }


def _metrics_summary(metrics: dict[str, float]) -> str:
    """The first few model metrics (system metrics are counted, not shown)."""
    model = [(k, v) for k, v in metrics.items() if not k.startswith("system/")]
    shown = [f"{k}={v:.4g}" for k, v in model[:_METRICS_IN_TABLE]]
    more = len(metrics) - len(shown)
    return ", ".join(shown) + (f" (+{more})" if more > 0 else "")


def _search_runs(client: Client, max_results: int, **query: Any) -> tuple[list[Run], bool]:
    """The first ``max_results`` runs of a search, and whether more matched (one more run is asked for)."""
    found = client.search_runs(max_results=max_results + 1, **query)
    return found[:max_results], len(found) > max_results


def _say_more_matched(shown: int, what: str = "run") -> None:
    """On stderr, so that what stdout holds stays the table alone."""
    click.echo(f"showing the first {shown} {what}{'s' * (shown != 1)}; more match: raise --max-results (e.g. "
               f"--max-results {shown * 10}) to see them", err=True)


def _emit_runs(found: list[Run], as_json: bool, more: bool = False) -> None:
    if as_json:
        emit([_run_row(r) for r in found], [], as_json=True)
        return
    rows = [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "started": _time(r.info.start_time, short=True),
             "metrics": _metrics_summary({m.key: m.value for m in sorted(r.metrics, key=lambda m: m.key)})}
            for r in found]
    emit(rows, ["run_id", "name", "status", "started", "metrics"], as_json=False)
    if more:
        _say_more_matched(len(found))


@click.group()
def runs() -> None:
    """List, search and show runs."""


_EXPERIMENT = click.option("--experiment", "-e", "experiment", multiple=True,
                           help="Experiment id or name (repeatable; default: every active experiment).")


@runs.command("list")
@_EXPERIMENT
@click.option("--view", type=_VIEW, default="active", show_default=True)
@click.option("--max-results", type=click.IntRange(min=1), default=100, show_default=True)
@_with_client
def runs_list(client: Client, as_json: bool, experiment: tuple[str, ...], view: str, max_results: int) -> None:
    """List the newest runs (the first --max-results; stderr says when more match)."""
    found, more = _search_runs(client, max_results, experiment=list(experiment) or None, view=view)
    _emit_runs(found, as_json, more)


@runs.command("search")
@_EXPERIMENT
@click.option("--filter", "filter_string", default=None, help="MLflow filter, e.g. \"metrics.loss < 0.1\".")
@click.option("--order-by", multiple=True, help="e.g. 'metrics.loss ASC' (repeatable).")
@click.option("--view", type=_VIEW, default="active", show_default=True)
@click.option("--max-results", type=click.IntRange(min=1), default=100, show_default=True)
@_with_client
def runs_search(client: Client, as_json: bool, experiment: tuple[str, ...], filter_string: str | None,
               order_by: tuple[str, ...], view: str, max_results: int) -> None:
    """Search runs with MLflow's filter syntax (the first --max-results; stderr says when more match)."""
    found, more = _search_runs(client, max_results, experiment=list(experiment) or None, filter=filter_string,
                               order_by=order_by, view=view)
    _emit_runs(found, as_json, more)


@runs.command("show")
@click.argument("run_id")
@_with_client
def runs_show(client: Client, as_json: bool, run_id: str) -> None:
    """Show one run: its info, params, latest metrics and tags."""
    run = client.get_run(run_id)
    row = _run_row(run)
    if as_json:
        emit([row], [], as_json=True)
        return
    info_keys = ["run_id", "run_name", "experiment_id", "status", "user_id", "start_time", "end_time",
                 "artifact_uri", "lifecycle_stage"]
    info = [{"field": k, "value": _time(row[k]) if k.endswith("_time") else row[k]} for k in info_keys]
    info.insert(7, {"field": "duration", "value": _duration(run)})
    emit(info, ["field", "value"], as_json=False, title=f"run {run_id}")
    for section in ("params", "metrics", "tags"):
        if row[section]:
            emit([{"key": k, "value": v} for k, v in row[section].items()], ["key", "value"], as_json=False,
                 title=section)
    if row["inputs"]:
        emit(row["inputs"], ["name", "digest", "source_type", "source"], as_json=False, title="inputs")


# -- artifacts ---------------------------------------------------------------------------------------


@click.group()
def artifacts() -> None:
    """List and download run artifacts."""


@artifacts.command("list")
@click.argument("run_id")
@click.argument("path", required=False, default="")
@_with_client
def artifacts_list(client: Client, as_json: bool, run_id: str, path: str) -> None:
    """List the files and folders directly under PATH in a run's artifacts."""
    rows = [{"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size}
            for f in client.list_artifacts(run_id, path)]
    emit(rows, ["path", "is_dir", "file_size"], as_json=as_json)


@artifacts.command("download")
@click.argument("run_id")
@click.argument("path", required=False, default="")
@click.option("--dst", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Local folder to download into.")
@_with_client
def artifacts_download(client: Client, as_json: bool, run_id: str, path: str, dst: Path) -> None:
    """Download a run's artifact file or folder (default: all of them) into DST."""
    local = client.download_artifacts(run_id, path, dst)
    if as_json:
        emit([{"run_id": run_id, "path": path, "local_path": str(local)}], [], as_json=True)
    else:
        click.echo(str(local))


commands = [experiments, runs, artifacts]
