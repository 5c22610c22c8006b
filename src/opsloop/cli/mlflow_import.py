"""``opsloop import-mlflow``: copy an MLflow tracking store and model registry into an opsloop server.

Exit codes: 0 everything was copied (or already there), 1 some experiments, runs, models or versions
failed (the rest was copied; see the summary), 2 nothing could start (bad options, ``mlflow`` not
installed, a source or destination that cannot be reached or is not MLflow).
"""

from __future__ import annotations

import os

import click

from opsloop.cli._http import checked_url
from opsloop.cli._output import emit, json_text

__all__ = ["import_mlflow"]


def _destination(ctx: click.Context, given: str | None) -> str:
    """``--to``, else the top-level ``--url`` if it was given as ``--url`` or ``OPSLOOP_URL``.

    ``MLFLOW_TRACKING_URI`` (which the top-level ``--url`` also reads) is never taken as the destination:
    while migrating it usually names the source.
    """
    if given:
        return given
    root = ctx.find_root()
    url = getattr(root.obj, "url", None)
    source = root.get_parameter_source("url")
    from_flag = source is not None and source.name == "COMMANDLINE"
    if url and (from_flag or os.environ.get("OPSLOOP_URL") == url):
        return url
    raise click.UsageError("give the opsloop server to import into: --to URL (or opsloop --url URL, or "
                           "OPSLOOP_URL); MLFLOW_TRACKING_URI is not used, since it usually names the source")


def _progress(line: str) -> None:
    click.echo(line, err=True)


@click.command("import-mlflow")
@click.option("--from", "source", required=True, metavar="URI",
              help="MLflow store to copy: a server (http://host:5000), a file store (./mlruns, file:…) or a "
                   "database (sqlite:///mlflow.db, postgresql://…).")
@click.option("--to", "destination", default=None, metavar="URL", callback=checked_url,
              help="opsloop server to copy into (default: the top-level --url or OPSLOOP_URL).")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Copy only this experiment, and the registered versions of its runs (repeatable).")
@click.option("--include-deleted", is_flag=True, help="Also copy deleted experiments and runs (kept deleted).")
@click.option("--dry-run", is_flag=True, help="Only list what would be copied and what is already there.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (with the old -> new ids) as JSON.")
@click.pass_context
def import_mlflow(ctx: click.Context, source: str, destination: str | None, experiments: tuple[str, ...],
                  include_deleted: bool, dry_run: bool, as_json: bool) -> None:
    """Copy experiments, runs, logged models and the model registry of an MLflow store into opsloop.

    Safe to run again: what an earlier import copied is skipped. Progress goes to stderr.
    """
    from opsloop.errors import MissingDependencyError, OpsloopError
    from opsloop.mlops.migration import Options, import_from_mlflow

    target = _destination(ctx, destination)
    options = Options(experiments=experiments, include_deleted=include_deleted, dry_run=dry_run)
    try:
        summary = import_from_mlflow(source, target, options, progress=_progress)
    except (MissingDependencyError, OpsloopError) as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(2) from None
    doc = summary.to_dict()
    if as_json:
        click.echo(json_text(doc))
    else:
        done = "would copy" if dry_run else "copied"
        rows = [{"what": kind, done: t["copied"], "already there": t["skipped"], "failed": t["failed"]}
                for kind, t in doc["counts"].items()]
        emit(rows, ["what", done, "already there", "failed"], as_json=False,
             title=f"{'dry run: ' if dry_run else ''}{summary.source} -> {summary.destination}")
    for failure in summary.failures:
        click.echo(f"failed: {failure['kind']} {failure['source_id']}: {failure['error']}", err=True)
    if not summary.ok:
        raise SystemExit(1)
