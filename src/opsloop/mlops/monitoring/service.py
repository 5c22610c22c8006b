"""Monitoring attached to a scoring server: sampler, API, reference, the drift schedule and service health."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from opsloop.errors import InvalidInputError, NotFoundError, OpsloopError
from opsloop.mlops.monitoring.api import create_monitoring_app
from opsloop.mlops.monitoring.drift import DriftPolicy
from opsloop.mlops.monitoring.forwarding import SignalForwarder
from opsloop.mlops.monitoring.health import HealthMonitor, HealthPolicy, RequestCounts
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.mlops.monitoring.performance import PerformancePolicy
from opsloop.mlops.monitoring.sampling import PredictionSampler
from opsloop.mlops.monitoring.store import open_store

__all__ = ["MonitorConfig", "ServingMonitor", "parse_table", "profile_reference", "read_table",
           "reference_with_predictions"]

log = logging.getLogger(__name__)


def read_table(path: str | Path, max_rows: int | None = None) -> pd.DataFrame:
    """Read a Parquet or CSV file (the first ``max_rows`` rows when given).

    Raises:
        NotFoundError: no such file.
        InvalidInputError: the file cannot be read as a table.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"data file {p} does not exist", field="data")
    return parse_table(p, p.name, max_rows)


def parse_table(source: Any, name: str, max_rows: int | None = None, *, field: str = "data") -> pd.DataFrame:
    """Read ``source`` (a path or a binary file object) as CSV when ``name`` ends in .csv/.txt, else Parquet.

    Raises:
        InvalidInputError: it cannot be read as a table (``field`` names the culprit).
    """
    try:
        if Path(name).suffix.lower() in (".csv", ".txt"):
            return pd.read_csv(source, nrows=max_rows)
        frame = pd.read_parquet(source)
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for unreadable files
        raise InvalidInputError(f"cannot read {name} as Parquet or CSV: {exc}", field=field) from exc
    return frame.head(max_rows) if max_rows else frame


def _check_inputs(model: Any, frame: pd.DataFrame) -> None:
    """Refuse data the model could not have been trained on: a required input missing, or text in a
    numeric input (a profile of it would leave that input unmonitored, or profile numbers as categories)."""
    columns = [c for c in model.signature.columns if c.name]
    missing = [c.name for c in columns if c.required and c.name not in frame.columns]
    if missing:
        raise InvalidInputError(f"the reference data lacks the model's inputs {missing} (it has "
                                f"{list(frame.columns)[:20]})", field=missing[0])
    for c in columns:
        if c.name in frame.columns and len(frame) and frame[c.name].isna().all():
            raise InvalidInputError(f"column {c.name!r} of the reference data has no values: its drift could "
                                    "not be measured", field=c.name)
        if c.numeric and c.name in frame.columns and not pd.api.types.is_numeric_dtype(frame[c.name]):
            numbers = pd.to_numeric(frame[c.name], errors="coerce")
            bad = frame[c.name][numbers.isna() & frame[c.name].notna()]
            if len(bad):
                raise InvalidInputError(f"column {c.name!r} of the reference data has {bad.iloc[0]!r} where the "
                                        f"model expects {c.type}", field=c.name)


def reference_with_predictions(model: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """The model's input columns of ``frame`` (all of them when its signature names none) and the model's
    predictions on them, or ``None`` when it cannot score them (a reference without predictions still
    profiles the features).

    Raises:
        InvalidInputError: ``frame`` lacks a required model input, or has text in a numeric one.
    """
    _check_inputs(model, frame)
    names = [n for n in model.signature.names if n in frame.columns] or list(frame.columns)
    try:
        preds = model.predict_frame(frame[names])
    except Exception as exc:  # noqa: BLE001 - any model error only costs the prediction reference
        log.warning("no prediction reference: %s", exc)
        preds = None
    return frame[names], preds


def profile_reference(monitor: ModelMonitor, model: Any, path: str, origin: dict[str, Any] | None = None) -> None:
    """The reference file ``path`` (its first 200,000 rows) profiled with ``model``'s predictions as
    ``monitor``'s drift reference: at a dedicated serve's start, and again when its alias moves."""
    monitor.set_reference(*reference_with_predictions(model, read_table(path, max_rows=200_000)), origin=origin)


@dataclass(slots=True)
class MonitorConfig:
    """Monitoring of a served model; picklable, so it travels to worker processes.

    Attributes:
        store_url: ``sqlite:///monitoring.db`` (shared by all workers) or ``memory://`` (one worker).
        model_name: the name samples and signals are filed under.
        sample_rate: share of requests sampled; max_samples: samples kept per model.
        reference_path: training/reference data (Parquet or CSV) to profile at startup.
        drift_interval: seconds between scheduled drift and performance checks (0: on demand only).
        report_to: an opsloop server (``http://host:port``) whose AIOps pipeline gets every signal
            (``SignalForwarder``), so model drift opens incidents there; None: kept here only.
        health_policy: thresholds of the served model's 5xx rate and p99 latency, judged on the schedule
            (``opsloop.mlops.monitoring.health``).
    """

    store_url: str
    model_name: str
    sample_rate: float = 0.1
    max_samples: int = 100_000
    reference_path: str | None = None
    drift_interval: float = 0.0
    report_to: str | None = None
    drift_policy: DriftPolicy = field(default_factory=DriftPolicy)
    performance_policy: PerformancePolicy = field(default_factory=PerformancePolicy)
    health_policy: HealthPolicy = field(default_factory=HealthPolicy)

    def build(self, model: Any, *, worker: int = 0) -> ServingMonitor:
        """Open the store and wire the sampler, API and schedule for ``model`` (a ``LoadedModel``)."""
        store = open_store(self.store_url)
        monitor = ModelMonitor(store, self.model_name, drift_policy=self.drift_policy,
                               performance_policy=self.performance_policy)
        if self.reference_path and worker == 0:
            profile_reference(monitor, model, self.reference_path)
        sampler = PredictionSampler(store, self.model_name, rate=self.sample_rate, max_samples=self.max_samples)

        def current(_name: str) -> ModelMonitor:
            sampler.flush()  # this worker's requests scored just before are checked, and their labels match
            return monitor

        app = create_monitoring_app(store, self.model_name, monitor_factory=current, health_defaults=self.health_policy)
        forwarder = SignalForwarder(self.report_to) if self.report_to else None
        health = HealthMonitor(store, lambda _name: self.health_policy)
        if forwarder is not None:
            monitor.on_signals = health.on_signals = forwarder.send
        return ServingMonitor(monitor, sampler, app, self.drift_interval if worker == 0 else 0.0, forwarder,
                              health=health)


class ServingMonitor:
    """The running parts: ``recorder`` (for the scoring app), ``app`` (ASGI) and the schedule."""

    def __init__(self, monitor: ModelMonitor, sampler: PredictionSampler, app: Any, interval: float,
                 forwarder: SignalForwarder | None = None, *, health: HealthMonitor | None = None) -> None:
        self.monitor, self.recorder, self.app, self.interval = monitor, sampler, app, interval
        self.forwarder = forwarder
        self.health = health
        # (ref, cumulative request counters of the scoring app, summed over workers): see ``count_requests``
        self._requests: tuple[str, Callable[[], RequestCounts]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.recorder.start()
        if self.forwarder is not None:
            self.forwarder.start()
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="opsloop-drift", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.recorder.stop()
        if self.forwarder is not None:
            self.forwarder.stop()

    def count_requests(self, ref: str, counts: Callable[[], RequestCounts]) -> None:
        """Judge the service health of the scoring app whose counters ``counts`` reads, as deployment ``ref``."""
        self._requests = (ref, counts)

    def check_health(self) -> list[dict[str, Any]]:
        """The health checks of the served model now (signals of what changed are stored and forwarded)."""
        if self.health is None or self._requests is None:
            return []
        ref, counts = self._requests
        return self.health.observe({(self.monitor.model, ref): counts()})["signals"]

    def check_now(self) -> None:
        """One scheduled round: service health (``check_health``), drift (when a new sample or reference makes
        it due, ``drift_due``) and live performance (when a new or corrected label would change what was
        sent, ``check_performance_when_due``)."""
        try:
            self.check_health()
        except OpsloopError as exc:
            log.warning("health check failed: %s", exc.message)
        try:
            if self.monitor.drift_due():
                self.monitor.check_drift()
            self.monitor.check_performance_when_due()
        except OpsloopError as exc:
            log.warning("monitoring check failed: %s", exc.message)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_now()
