"""``opsloop models``: validation gates and production monitoring of registered models.

Exit codes of ``models validate``: 0 passed, 1 failed the gate, 2 could not validate (bad input,
unknown model…). Other commands exit 1 on error. Errors print one line, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import quote

import click

from opsloop.cli._http import server_json
from opsloop.cli._output import json_text, printable
from opsloop.errors import InvalidInputError, OpsloopError

__all__ = ["models"]


def _registry(ctx: click.Context) -> Any:
    """The registry for ``validate``: ``ctx.obj["validation_registry"]`` (set by the CLI root for the
    opsloop server), else the ``mlflow`` client when MLFLOW_TRACKING_URI is set, else ``None``."""
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and obj.get("validation_registry") is not None:
        return obj["validation_registry"]
    if os.environ.get("MLFLOW_TRACKING_URI"):
        from opsloop.mlops.validation.registry import MlflowValidationRegistry

        return MlflowValidationRegistry()
    return None


def _fail(exc: OpsloopError, code: int = 1) -> None:
    click.echo(f"error: {printable(exc.message)}", err=True)
    sys.exit(code)


@click.group("models")
def models() -> None:
    """Validate model versions and watch served models."""


def _champion_uri(registry: Any, name: str, candidate: str, alias: str, champion_uri: str | None
                  ) -> tuple[str | None, str | None]:
    if champion_uri:
        return champion_uri, champion_uri
    if registry is None:
        return None, None
    version = registry.alias_version(name, alias)
    if version is None or str(version) == str(candidate):
        return None, None
    return registry.version_uri(name, version), f"{version} (@{alias})"


@models.command("validate")
@click.argument("name")
@click.option("--candidate", required=True, help="Candidate version (or a label when --candidate-uri is given).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="Labelled evaluation data (Parquet or CSV).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), help="Policy file (YAML).")
@click.option("--target", default=None, help="Label column (overrides the policy).")
@click.option("--sensitive", multiple=True, help="Sensitive column for the fairness check (repeatable).")
@click.option("--alias", default="champion", show_default=True, help="Alias of the current champion.")
@click.option("--candidate-uri", default=None, help="Load the candidate from this URI or directory instead.")
@click.option("--champion-uri", default=None, help="Load the champion from this URI or directory instead.")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Also write validation.json/.md here.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the text one.")
@click.option("--promote", is_flag=True, help="On pass, point --alias at the candidate.")
@click.pass_context
def validate(ctx: click.Context, name: str, candidate: str, data_path: str, policy_path: str | None,
             target: str | None, sensitive: tuple[str, ...], alias: str, candidate_uri: str | None,
             champion_uri: str | None, report_dir: str | None, as_json: bool, promote: bool) -> None:
    """Evaluate version CANDIDATE of NAME against the champion on DATA; exit 1 when it fails the gate."""
    from opsloop.mlops.monitoring.service import read_table
    from opsloop.mlops.serving.loading import load_model
    from opsloop.mlops.validation import ValidationPolicy, load_policy, validate_models

    try:
        registry = _registry(ctx)
        if registry is None and not candidate_uri:
            raise InvalidInputError("no model registry configured: set MLFLOW_TRACKING_URI, run through the "
                                    "opsloop server, or give --candidate-uri", field="candidate")
        if not candidate_uri and not candidate.isdigit():  # else the registry reads it as a stage name
            raise InvalidInputError(f"--candidate must be a version number of {name} (got {candidate!r}); a "
                                    "model from elsewhere is --candidate-uri with --candidate as its label",
                                    field="candidate")
        policy = load_policy(policy_path) if policy_path else ValidationPolicy()
        if target:
            policy.target = target
        if sensitive:
            policy.sensitive = list(sensitive)
        resolver = registry.resolve if registry is not None else None
        cand_uri = candidate_uri or registry.version_uri(name, candidate)
        champ_uri, champ_label = _champion_uri(registry, name, candidate, alias, champion_uri)
        cand_model = load_model(cand_uri, resolver)
        champ_model = load_model(champ_uri, resolver) if champ_uri else None
        report = validate_models(name, cand_model, champ_model, read_table(data_path), policy,
                                 candidate_label=candidate, champion_label=champ_label)
        if report_dir:
            report.write(report_dir)
        if registry is not None and not candidate_uri:
            registry.store_report(name, candidate, report)
        if promote and report.passed:
            if registry is None or candidate_uri:
                raise InvalidInputError("--promote needs a registry version, not --candidate-uri", field="promote")
            registry.promote(name, candidate, alias)
    except OpsloopError as exc:
        _fail(exc, 2)
        return
    click.echo(json_text(report.to_dict()) if as_json else report.to_text())
    if promote and report.passed:
        click.echo(f"promoted {name} version {candidate} to @{alias}", err=True)
    if not report.passed:
        click.echo(f"validation failed: {name} version {candidate} did not pass the gate", err=True)
        sys.exit(1)


_STORE = click.option("--store", "store_url", envvar="OPSLOOP_MONITORING_STORE", default=None,
                      help="Monitoring store URL (sqlite:///monitoring.db; env OPSLOOP_MONITORING_STORE) of an "
                           "`opsloop serve --monitor-store`; without it, the opsloop server of --url (the "
                           "models it scores at /serving).")
_MONITORING = "/api/opsloop/v1/monitoring"


def _server(ctx: click.Context, store_url: str | None) -> str | None:
    """The opsloop server to ask (``--url`` of the CLI root) when no ``--store`` is given."""
    if store_url:
        return None
    obj = ctx.find_root().obj
    url = getattr(obj, "url", None)
    if not url or not str(url).startswith(("http://", "https://")):
        raise InvalidInputError("give --store (a monitoring store URL) or the opsloop server's --url", field="store")
    return str(url).rstrip("/")


def _call(url: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One monitoring API call; an error answer becomes an ``OpsloopError`` with the server's message."""
    return server_json(url, method, _MONITORING + path, timeout=300, **kwargs)


def _reference_body(data_path: str, ref: str | None, min_accuracy: float | None, max_rmse: float | None) -> bytes:
    from opsloop.mlops.monitoring import read_table

    extra = {**({"ref": ref} if ref else {}), **_policies(min_accuracy, max_rmse)}
    if data_path.startswith(("runs:/", "mlflow-artifacts:")):
        return json.dumps({"path": data_path, **extra}).encode()
    # a local file travels inline, as the scoring protocol's dataframe_split: pandas' JSON of it (NaN as
    # null, dates as ISO) goes in as written, not parsed and written again
    rows = read_table(data_path, max_rows=200_000).to_json(orient="split", index=False)
    rest = json.dumps(extra)[1:]  # "}" or '"ref": …}'
    return ('{"dataframe_split": ' + rows + (", " if extra else "") + rest).encode()


def _policies(min_accuracy: float | None, max_rmse: float | None) -> dict[str, dict[str, float]]:
    """The live-performance bounds kept with a reference (``{}`` when none is given)."""
    performance = {k: v for k, v in (("min_accuracy", min_accuracy), ("max_rmse", max_rmse)) if v is not None}
    return {"performance": performance} if performance else {}


_THRESHOLDS = [click.option("--min-accuracy", type=click.FloatRange(0, 1), default=None,
                            help="Breach below this live accuracy."),
               click.option("--max-rmse", type=click.FloatRange(0), default=None, help="Breach above this live RMSE.")]


def _thresholds(fn: Any) -> Any:
    for option in reversed(_THRESHOLDS):
        fn = option(fn)
    return fn


@models.command("reference")
@click.argument("name")
@click.option("--data", "data_path", required=True,
              help="Training/reference data: a Parquet or CSV file, or (with the server) runs:/RUN_ID/path.parquet.")
@click.option("--model-uri", default=None, help="Model to profile predictions with (for prediction drift).")
@click.option("--ref", default=None, help="With the server: the version or alias whose predictions are profiled "
                                          "(default: the one last served, else the champion alias, else the "
                                          "newest version).")
@_thresholds
@_STORE
@click.pass_context
def reference(ctx: click.Context, name: str, data_path: str, model_uri: str | None, ref: str | None,
              min_accuracy: float | None, max_rmse: float | None, store_url: str | None) -> None:
    """Set the drift reference of NAME from DATA (and the live-performance bounds kept with it)."""
    try:
        url = _server(ctx, store_url)
        if url is not None:
            profile = _call(url, "POST", f"/models/{quote(name, safe='')}/reference",
                            content=_reference_body(data_path, ref, min_accuracy, max_rmse),
                            headers={"content-type": "application/json"})
        else:
            profile = _store_reference(ctx, name, data_path, model_uri, str(store_url), min_accuracy, max_rmse)
    except OpsloopError as exc:
        _fail(exc)
        return
    columns = len(profile["features"]) + (profile.get("predictions") is True)  # the server's summary counts apart
    click.echo(f"reference for {name}: {profile['rows']} rows, {columns} columns profiled")


def _store_reference(ctx: click.Context, name: str, data_path: str, model_uri: str | None, store_url: str,
                     min_accuracy: float | None, max_rmse: float | None) -> dict[str, Any]:
    from opsloop.cli.serving import model_resolver
    from opsloop.mlops.monitoring import ModelMonitor, open_store, read_table
    from opsloop.mlops.serving.loading import load_model

    frame = read_table(data_path, max_rows=200_000)
    preds = None
    if model_uri:
        model = load_model(model_uri, model_resolver(ctx, model_uri))
        names = model.signature.names or list(frame.columns)
        frame = frame[[n for n in names if n in frame.columns]]
        preds = model.predict_frame(frame)
    return ModelMonitor(open_store(store_url), name).set_reference(frame, preds,
                                                                   policies=_policies(min_accuracy, max_rmse))


def _monitor(name: str, store_url: str, min_accuracy: float | None = None, max_rmse: float | None = None) -> Any:
    """The monitor of NAME in a store, with the bounds given, else those stored with its reference."""
    from opsloop.mlops.monitoring import ModelMonitor, PerformancePolicy, open_store
    from opsloop.mlops.monitoring.reference import policies_of

    store = open_store(store_url)
    drift_policy, performance_policy = policies_of(store.get_reference(name))
    if min_accuracy is not None or max_rmse is not None:
        performance_policy = PerformancePolicy(min_accuracy=min_accuracy, max_rmse=max_rmse)
    return ModelMonitor(store, name, drift_policy=drift_policy, performance_policy=performance_policy)


def _check(ctx: click.Context, name: str, store_url: str | None, what: str, **bounds: float | None) -> dict[str, Any]:
    """``{"report", "signals"}`` of a drift or performance check, by the server or on the store."""
    url = _server(ctx, store_url)
    if url is not None:
        if any(v is not None for v in bounds.values()):
            raise InvalidInputError("with the server, bounds are kept with the reference: set them with "
                                    f"`opsloop models reference {name} --min-accuracy …`", field="min_accuracy")
        return _call(url, "POST", f"/models/{quote(name, safe='')}/{what}")
    monitor = _monitor(name, str(store_url), **bounds)
    report, signals = monitor.check_drift() if what == "drift" else monitor.check_performance()
    return {"report": report.to_dict(), "signals": [s.to_dict() for s in signals]}


@models.command("drift")
@click.argument("name")
@_STORE
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def drift(ctx: click.Context, name: str, store_url: str | None, as_json: bool) -> None:
    """Compute drift of NAME's served traffic now; drifted features become model_drift signals."""
    try:
        doc = _check(ctx, name, store_url, "drift")
    except OpsloopError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json_text(doc))
        return
    report = doc["report"]
    click.echo(printable(f"drift of {name}: {report['current_rows']} recent rows vs {report['reference_rows']} reference rows"))
    for f in report["features"]:
        stats = ", ".join(f"{k}={v:.4g}" for k, v in f["statistics"].items()) or f["note"]
        verdict = "DRIFT" if f["drifted"] else "ok" if f["statistics"] else "-"  # "-": not judged (the note)
        click.echo(printable(f"  {verdict:5} {f['feature']:24} {stats}"))
    click.echo(f"{len(doc['signals'])} signal(s) emitted")


@models.command("performance")
@click.argument("name")
@_STORE
@_thresholds
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def performance(ctx: click.Context, name: str, store_url: str | None, min_accuracy: float | None,
                max_rmse: float | None, as_json: bool) -> None:
    """Live metrics of NAME from posted labels; breaches become model_performance signals."""
    try:
        doc = _check(ctx, name, store_url, "performance", min_accuracy=min_accuracy, max_rmse=max_rmse)
    except OpsloopError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json_text(doc))
        return
    report = doc["report"]
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in report["metrics"].items()) or "no labelled samples yet"
    click.echo(printable(f"{name} ({report['task']}, {report['labelled']} labelled): {metrics}"))
    for s in doc["signals"]:
        click.echo(printable(f"  {s['status'].upper()}: {s['text']}"))


@models.command("signals")
@click.option("--model", "name", default=None, help="Only this model's signals.")
@click.option("--kind", type=click.Choice(["model_drift", "model_performance"]), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@_STORE
@click.option("--json", "as_json", is_flag=True, help="One Signal JSON document per line.")
@click.pass_context
def signals(ctx: click.Context, name: str | None, kind: str | None, limit: int, store_url: str | None,
            as_json: bool) -> None:
    """List drift and performance signals, newest first."""
    import datetime as dt

    from opsloop.mlops.monitoring import open_store

    try:
        url = _server(ctx, store_url)
        if url is not None:
            params = {k: v for k, v in (("model", name), ("kind", kind), ("limit", limit)) if v is not None}
            found = _call(url, "GET", "/signals", params=params)["signals"]
        else:
            found = [s.to_dict() for s in open_store(str(store_url)).list_signals(model=name, kind=kind, limit=limit)]
    except OpsloopError as exc:
        _fail(exc)
        return
    for s in found:
        if as_json:
            click.echo(json_text(s, indent=None))
        else:
            when = dt.datetime.fromtimestamp(s["time"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            click.echo(printable(f"{when}  {s['status']:8} {s['severity']:8} {s['kind']:17} {s['text']}"))
    if not found and not as_json:
        click.echo("no signals")
