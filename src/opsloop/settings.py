"""Typed settings, read once.

Sources, highest first: explicit keyword arguments (the CLI passes its flags this way), environment
variables prefixed ``OPSLOOP_`` (nested with ``__``, e.g. ``OPSLOOP_SERVER__PORT``; the common ones
also have short forms listed on each field), a TOML config file (``OPSLOOP_CONFIG`` or
``./opsloop.toml``), then defaults. Nothing else in opsloop reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from opsloop.errors import InvalidInputError

__all__ = ["IngestionSettings", "RunbookSettings", "ServerSettings", "Settings", "StorageSettings", "TraceTopologySettings",
           "load_settings"]


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(5000, ge=0, le=65535, description="TCP port of the HTTP server (MLflow's default).")
    workers: int = Field(1, ge=1, le=64, description="Server worker processes.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest request body accepted, except artifact uploads."
    )
    ui: bool = Field(True, description="Serve the web UI at /.")
    keep_alive_s: int = Field(
        75, ge=1, le=3600,
        description="How long an idle client connection is kept open (longer than the senders' intervals: "
                    "Prometheus remote_write sends every 5 s and reuses its connections).",
    )
    advertise_url: str | None = Field(
        None, pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="URL at which the other servers on this PostgreSQL database reach this one, when it "
                    "leads the AIOps pipeline (default: http://HOSTNAME:PORT when bound to every "
                    "interface, none when bound to loopback).",
    )

    def bind_url(self) -> str:
        """The address the server listens on, as a URL (an IPv6 one in brackets: ``http://[::]:5000``)."""
        return _http_url(self.host, self.port)

    def local_url(self) -> str:
        """The URL a program on this host reaches the server at (the loopback when it binds every interface)."""
        return _http_url("127.0.0.1" if self.host in _EVERY_INTERFACE else self.host, self.port)

    def reachable_url(self) -> str | None:
        """``advertise_url``, or the URL other hosts reach this server at by its bind address."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        if self.host in _EVERY_INTERFACE:
            import socket

            return _http_url(socket.gethostname(), self.port)
        if self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127."):
            return None
        return _http_url(self.host, self.port)


_EVERY_INTERFACE = ("0.0.0.0", "::", "")


def _http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class StorageSettings(BaseModel):
    data_dir: Path = Field(Path("opsloop-data"), description="Folder for the embedded store and artifacts.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is SQLite in data_dir (postgresql+psycopg://… to scale out)."
    )
    artifact_root: str | None = Field(
        None, description="Where artifacts live: a local folder (default data_dir/artifacts) or s3://bucket/prefix."
    )
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto…).")
    pool_size: int = Field(8, ge=1, le=256, description="Connection pool size for server databases.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'opsloop.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> str:
        if self.artifact_root:
            return self.artifact_root
        return str((self.data_dir / "artifacts").resolve())


class IngestionSettings(BaseModel):
    max_labels: int = Field(64, ge=1, description="Most labels one signal may carry.")
    max_label_bytes: int = Field(4096, ge=16, description="Longest label value accepted.")
    max_future_skew_s: float = Field(3600.0, ge=0, description="How far in the future a timestamp may lie.")
    rate_limit_per_sender: float = Field(
        50_000.0, gt=0, description="Sustained items/s one sender may push before getting 429."
    )
    metric_history_days: float = Field(
        7.0, ge=0, description="How long ingested metric samples are kept for charts (0: keep none)."
    )
    log_retention_days: float = Field(
        7.0, ge=0, description="How long stored log records are kept (0: for ever)."
    )
    signal_retention_days: float = Field(
        90.0, ge=0, description="How long other signals (alerts, anomalies, events) are kept once their incident "
        "is resolved and they stopped firing (0: for ever)."
    )
    detector_checkpoint_s: float = Field(
        60.0, gt=0, description="How often what the metric detectors learned is saved (and at shutdown)."
    )


class TraceTopologySettings(BaseModel):
    """How service dependencies are learned from OTLP traces (``POST /v1/traces``)."""

    min_calls: int = Field(3, ge=1, description="Calls seen in spans before an edge joins the topology.")
    edge_expiry_days: float = Field(7.0, gt=0, description="A traced edge not seen for this long is forgotten.")
    span_map_size: int = Field(
        100_000, ge=100,
        description="Recent spans remembered (id -> service) to join children to parents sent in other requests "
                    "(as many children waiting for their parent).",
    )
    span_map_ttl_s: float = Field(300.0, gt=0, description="How long a remembered span or waiting child is kept.")


class TopologySettings(BaseModel):
    file: str = Field(
        "", description="A YAML or JSON topology document (services: {a: [b, …]} and/or edges: [{source, target}]) "
        "that replaces the declared topology at every start (empty: keep the one declared through the API).",
    )
    time_proximity_s: float = Field(
        60.0, ge=0, le=3600,
        description="Two services no declared or traced edge names: an alert of one joins an open incident where the "
        "other started alerting at most this many seconds before or after (during the incident's first 5 minutes, "
        "up to 20 services; 0: off, such services group only by labels and learned co-occurrence).",
    )


class RunbookSettings(BaseModel):
    max_concurrent: int = Field(2, ge=1, le=64, description="Runbook runs one server executes at a time.")


class HealthSettings(BaseModel):
    """Server-wide thresholds of the served models' health checks, for those a reference's ``health`` does not set."""

    window_s: float = Field(300.0, ge=1, le=3600, description="Seconds of traffic each health check judges.")
    min_requests: int = Field(20, ge=1, description="Requests a window needs for a verdict.")
    max_error_rate: float | None = Field(
        0.05, ge=0, le=1, description="Share of requests answered 5xx above which error_rate fires (none: off).")
    max_latency_p99_s: float | None = Field(
        1.0, gt=0, le=5, description="p99 latency in seconds above which latency_p99 fires (none: off).")
    resolve_ratio: float = Field(0.8, gt=0, le=1, description="A firing check resolves at or below threshold * this.")

    @field_validator("max_error_rate", "max_latency_p99_s", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off") else value


class MonitoringSettings(BaseModel):
    sample_rate: float = Field(0.1, ge=0, le=1, description="Share of /serving requests sampled for monitoring.")
    max_samples: int = Field(100_000, ge=1, description="Samples kept per model (the oldest dropped first).")
    max_rows_per_request: int = Field(100, ge=1, description="Rows of one sampled request kept.")
    drift_interval_s: float = Field(
        60.0, ge=0, description="Seconds between drift and performance checks of every model with a reference (0: off)."
    )
    max_reference_rows: int = Field(200_000, ge=1, description="Rows of a reference data set profiled.")
    health: HealthSettings = Field(default_factory=HealthSettings,
                                   description="Default health check thresholds (OPSLOOP_MONITORING__HEALTH__...).")


class NotificationSettings(BaseModel):
    link_url: str | None = Field(
        None, pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="Base URL people open opsloop's UI at (https://opsloop.example.com, a proxy's address): "
                    "each notification links its incident there (Alertmanager's --web.external-url). Default: "
                    "server.advertise_url; without either, notifications carry no link.",
    )
    delivered_retention_days: float = Field(
        7.0, ge=0,
        description="How long delivered notifications stay in the outbox (0: for ever); the last one of each "
                    "target and incident stays, and dead letters are never pruned.",
    )

    def link_base(self, server: ServerSettings) -> str | None:
        base = self.link_url or server.advertise_url
        return base.rstrip("/") if base else None


class Settings(BaseModel):
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    traces: TraceTopologySettings = Field(default_factory=TraceTopologySettings)
    topology: TopologySettings = Field(default_factory=TopologySettings)
    runbooks: RunbookSettings = Field(default_factory=RunbookSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    log_level: str = Field("info", description="Log level of the server.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.log_level = self.log_level.lower()
        return self


# Short environment names that users of MLflow-like tools expect.
_SHORT_ENV = {
    "OPSLOOP_HOST": ("server", "host"),
    "OPSLOOP_PORT": ("server", "port"),
    "OPSLOOP_WORKERS": ("server", "workers"),
    "OPSLOOP_DATA_DIR": ("storage", "data_dir"),
    "OPSLOOP_DATABASE_URL": ("storage", "database_url"),
    "OPSLOOP_ARTIFACT_ROOT": ("storage", "artifact_root"),
    "OPSLOOP_S3_ENDPOINT_URL": ("storage", "s3_endpoint_url"),
    "OPSLOOP_LOG_LEVEL": ("log_level",),
}


def _deep_set(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in environ.items():
        if name in _SHORT_ENV:
            _deep_set(found, _SHORT_ENV[name], value)
        elif name.startswith("OPSLOOP_") and "__" in name:
            path = tuple(part.lower() for part in name[len("OPSLOOP_"):].split("__"))
            _deep_set(found, path, value)
    return found


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build the settings once from file, environment and explicit overrides (in rising priority)."""
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    path = config_file or (Path(env["OPSLOOP_CONFIG"]) if env.get("OPSLOOP_CONFIG") else Path("opsloop.toml"))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"config file {path} is not valid TOML: {exc}", field="config") from None
    data = _merge(data, _from_env(env))
    data = _merge(data, overrides or {})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"invalid setting {where}: {first['msg']} (got {first.get('input')!r})",
                                field=where) from None
