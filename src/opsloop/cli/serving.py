"""``opsloop serve`` and ``opsloop predict``: online and batch scoring of MLflow-format models."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from opsloop.cli._http import checked_url
from opsloop.errors import InvalidInputError, OpsloopError

__all__ = ["model_resolver", "predict", "serve"]


def model_resolver(ctx: click.Context | None = None, *uris: str | None) -> Any:
    """The resolver for ``models:/`` and ``runs:/`` URIs; ``None`` when ``uris`` are given and none is one.

    The CLI root may put one in ``ctx.obj["model_resolver"]`` (the opsloop server's); otherwise,
    when MLFLOW_TRACKING_URI is set, the ``mlflow`` client resolves them. A model folder needs none: asking
    for the root's would open (and migrate) the embedded store of the working directory.
    """
    from opsloop.mlops.serving.uris import is_registry_uri

    if uris and not any(uri and is_registry_uri(uri) for uri in uris):
        return None
    obj = ctx.find_root().obj if ctx is not None else None
    if isinstance(obj, dict) and obj.get("model_resolver") is not None:
        return obj["model_resolver"]
    if os.environ.get("MLFLOW_TRACKING_URI"):
        from opsloop.mlops.serving.uris import MlflowClientResolver

        return MlflowClientResolver()
    return None


def _fail(exc: OpsloopError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(1)


class _Threshold(click.ParamType):
    """A health threshold from ``low`` (excluded when ``low_open``) to ``high``, or ``off``."""

    name = "number|off"

    def __init__(self, high: float, *, low_open: bool = False) -> None:
        self.high, self.low_open = high, low_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float) or value == "off":
            return value
        if str(value).strip().lower() in ("off", "none"):
            return "off"
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number (or 'off')", param, ctx)
        if not (0 < number if self.low_open else 0 <= number) or number > self.high:
            self.fail(f"{value} is not in the range {'0<x' if self.low_open else '0<=x'}<={self.high:g}", param, ctx)
        return number


class _HealthOption(click.Option):
    """A health flag whose ``[default: …]`` in the help is ``HealthPolicy``'s, the one source of the defaults
    (read when the help is shown: importing the monitoring package costs about a second)."""

    def __init__(self, *args: Any, policy_field: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy_field, self.base_help = policy_field, self.help or ""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from opsloop.mlops.monitoring.health import HealthPolicy

        default = getattr(HealthPolicy(), self.policy_field)
        self.help = f"{self.base_help}  [default: {'off' if default is None else f'{default:g}'}]"
        return super().get_help_record(ctx)


def _health_option(name: str, policy_field: str, kind: Any, help_: str) -> Callable[..., Any]:
    return click.option(name, type=kind, default=None, help=help_, cls=_HealthOption, policy_field=policy_field)


def _health_policy(window: float | None, min_requests: int | None, max_error_rate: Any, max_latency_p99: Any,
                   resolve_ratio: float | None) -> Any:
    """The ``HealthPolicy`` of the health flags given (``HealthPolicy``'s defaults for the others)."""
    from opsloop.mlops.monitoring.health import HealthPolicy

    given: dict[str, Any] = {"window_s": window, "min_requests": min_requests, "max_error_rate": max_error_rate,
                             "max_latency_p99_s": max_latency_p99, "resolve_ratio": resolve_ratio}
    chosen: dict[str, Any] = {k: None if v == "off" else v for k, v in given.items() if v is not None}
    return HealthPolicy(**chosen)


@click.command("serve")
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=5000, show_default=True, type=int)
@click.option("--workers", "-w", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the socket.")
@click.option("--challenger", "challenger_uri", default=None, help="A challenger model URI.")
@click.option("--traffic", type=click.Choice(["shadow", "split"]), default="shadow", show_default=True,
              help="shadow: the challenger scores a copy; split: it answers a share of requests.")
@click.option("--challenger-weight", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests the challenger answers with --traffic split.")
@click.option("--max-body-mb", default=32.0, show_default=True, type=float, help="Largest request body.")
@click.option("--refresh-seconds", default=30.0, show_default=True, type=float,
              help="Re-resolve models:/ aliases this often and hot-swap when they move (0: never).")
@click.option("--monitor-store", default=None,
              help="Monitoring store URL (sqlite:///path.db or memory://) to sample requests into.")
@click.option("--model-name", default=None, help="Name the samples and signals are filed under.")
@click.option("--sample-rate", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests sampled into the monitoring store.")
@click.option("--max-samples", default=100_000, show_default=True, type=int,
              help="Samples kept per model (oldest dropped first).")
@click.option("--reference", "reference_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Training/reference data (parquet or CSV) for drift.")
@click.option("--drift-interval", default=0.0, show_default=True, type=float,
              help="Compute drift every N seconds (0: only on demand).")
@click.option("--report-to", default=None, metavar="URL", callback=checked_url,
              help="opsloop server whose AIOps pipeline gets the drift and performance signals (default: the "
                   "top-level --url / OPSLOOP_URL when it is an http URL; 'none' to keep them here only).")
@_health_option("--health-window", "window_s", click.FloatRange(1, 3600),
                "Seconds of traffic each health check judges, with --monitor-store")
@_health_option("--health-min-requests", "min_requests", click.IntRange(1),
                "Requests a health check's window needs for a verdict")
@_health_option("--max-error-rate", "max_error_rate", _Threshold(1.0),
                "Share of requests that failed (answered 5xx, or the model raised) above which the error_rate "
                "check fires, or 'off'")
@_health_option("--max-latency-p99", "max_latency_p99_s", _Threshold(5.0, low_open=True),
                "p99 latency in seconds above which the latency_p99 check fires, or 'off'")
@_health_option("--health-resolve-ratio", "resolve_ratio", click.FloatRange(0, 1, min_open=True),
                "A firing health check resolves at or below its threshold times this")
@click.option("--micro-batching/--no-micro-batching", default=True, show_default=True,
              help="Score requests that arrive together in one model call.")
@click.option("--log-level", default="warning", show_default=True)
@click.pass_context
def serve(ctx: click.Context, model_uri: str, host: str, port: int, workers: int, challenger_uri: str | None,
          traffic: str, challenger_weight: float, max_body_mb: float, refresh_seconds: float,
          monitor_store: str | None, model_name: str | None, sample_rate: float, max_samples: int,
          reference_path: str | None, drift_interval: float, report_to: str | None, health_window: float | None,
          health_min_requests: int | None, max_error_rate: Any, max_latency_p99: Any,
          health_resolve_ratio: float | None, micro_batching: bool, log_level: str) -> None:
    """Serve MODEL_URI with MLflow's scoring protocol (POST /invocations) on HOST:PORT."""
    from opsloop.mlops.serving.server import ServeOptions
    from opsloop.mlops.serving.server import serve as run_server
    from opsloop.mlops.serving.traffic import TrafficPolicy

    try:
        monitoring = None
        if monitor_store and monitor_store.startswith("memory") and workers > 1:
            raise InvalidInputError("a memory:// monitoring store is private to one process; use "
                                    "--workers 1 or an sqlite:/// store", field="monitor_store")
        if report_to not in (None, "", "none") and not monitor_store:
            raise InvalidInputError("--report-to sends what the monitor finds: give --monitor-store too",
                                    field="report_to")
        health = _health_policy(health_window, health_min_requests, max_error_rate, max_latency_p99,
                                health_resolve_ratio)
        if not monitor_store and any(v is not None for v in (health_window, health_min_requests, max_error_rate,
                                                              max_latency_p99, health_resolve_ratio)):
            raise InvalidInputError("the health flags set the monitor's checks: give --monitor-store too",
                                    field="monitor_store")
        if monitor_store:
            from opsloop.mlops.monitoring.service import MonitorConfig

            monitoring = MonitorConfig(store_url=monitor_store, model_name=model_name or _name_of(model_uri),
                                       sample_rate=sample_rate, max_samples=max_samples,
                                       reference_path=reference_path, drift_interval=drift_interval,
                                       report_to=_report_to(ctx, report_to), health_policy=health)
        options = ServeOptions(
            model_uri=model_uri, host=host, port=port, workers=workers, challenger_uri=challenger_uri,
            traffic=TrafficPolicy(traffic if challenger_uri else "single", challenger_weight),
            max_body_bytes=int(max_body_mb * 1024 * 1024), refresh_seconds=refresh_seconds,
            monitoring=monitoring, micro_batching=micro_batching, log_level=log_level,
        )
        run_server(options, model_resolver(ctx, model_uri, challenger_uri),
                   on_ready=lambda: click.echo(f"serving {model_uri} on http://{host}:{port} "
                                               f"({workers} worker{'s' if workers > 1 else ''})", err=True))
    except OpsloopError as exc:
        _fail(exc)


def _report_to(ctx: click.Context, given: str | None) -> str | None:
    """Where the monitor's signals go: ``--report-to``, else the CLI's server URL (http only)."""
    if given is not None:
        if given.lower() in ("", "none"):
            return None
        if not given.startswith(("http://", "https://")):
            raise InvalidInputError(f"--report-to must be an http(s) URL of an opsloop server, not {given!r}",
                                    field="report_to")
        return given
    url = getattr(ctx.obj, "url", None)
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def _name_of(uri: str) -> str:
    """``models:/fraud@champion`` → ``fraud``; a directory → its base name."""
    if uri.startswith("models:/"):
        return uri[len("models:/"):].split("@", 1)[0].split("/", 1)[0]
    return os.path.basename(os.path.normpath(uri))


@click.command("predict")
@click.argument("model_uri")
@click.option("--input", "-i", "input_path", required=True,
              help="Parquet or CSV file to score (with --ray also a folder of them, or an s3:// prefix).")
@click.option("--output", "-o", "output_path", required=True,
              help="File to write: CSV when named .csv, else Parquet (with --ray a folder of Parquet files).")
@click.option("--chunk-rows", default=100_000, show_default=True, type=click.IntRange(1),
              help="Rows scored at a time (memory is bounded by this, not by the input size).")
@click.option("--keep", "keep_columns", multiple=True, help="Input columns copied to the output (repeatable).")
@click.option("--prediction-column", default="prediction", show_default=True)
@click.option("--ray", "on_ray", is_flag=True,
              help="Score on Ray Data: the model is shipped to replicas on a Ray cluster (needs opsloop[tune]).")
@click.option("--ray-address", default=None, help="Ray cluster to use (implies --ray; default: RAY_ADDRESS, or a "
                                                  "Ray started for the command).")
@click.option("--replicas", type=click.IntRange(1), default=None,
              help="With --ray: model copies scoring at once (default: the cluster's CPUs less one).")
@click.pass_context
def predict(ctx: click.Context, model_uri: str, input_path: str, output_path: str, chunk_rows: int,
            keep_columns: tuple[str, ...], prediction_column: str, on_ray: bool, ray_address: str | None,
            replicas: int | None) -> None:
    """Score INPUT with MODEL_URI in chunks and write predictions to OUTPUT."""
    from opsloop.mlops.serving.batch import predict_file
    from opsloop.mlops.serving.loading import load_model

    on_ray = on_ray or ray_address is not None
    if replicas is not None and not on_ray:
        raise click.UsageError("--replicas applies to --ray")
    if not on_ray:
        if not Path(input_path).is_file():
            what = "is a folder: score a folder with --ray" if Path(input_path).is_dir() else "does not exist"
            raise click.UsageError(f"--input {input_path} {what}")
        if Path(output_path).is_dir():
            raise click.UsageError(f"--output {output_path} is a folder; give a file (or use --ray)")
    try:
        model = load_model(model_uri, model_resolver(ctx, model_uri))
        if on_ray:
            from opsloop.mlops.serving.batch_on_ray import predict_on_ray

            stats = predict_on_ray(model, input_path, output_path, keep_columns=list(keep_columns),
                                   prediction_column=prediction_column, replicas=replicas, batch_rows=chunk_rows,
                                   ray_address=ray_address)
        else:
            stats = predict_file(model, input_path, output_path, chunk_rows=chunk_rows,
                                 keep_columns=list(keep_columns), prediction_column=prediction_column)
    except OpsloopError as exc:
        _fail(exc)
        return
    click.echo(f"scored {stats.rows} rows in {stats.seconds:.2f}s ({stats.rows_per_second:,.0f} rows/s) "
               f"-> {output_path}", err=True)
