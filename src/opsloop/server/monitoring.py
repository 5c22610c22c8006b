"""Monitoring of the models the server scores itself (``/serving/{name}/{ref}/invocations``).

    GET  /api/opsloop/v1/monitoring/models                          models with a drift reference
    GET  /api/opsloop/v1/monitoring/models/{model}                  samples kept, reference, last drift check
    POST /api/opsloop/v1/monitoring/models/{model}/reference        set the reference (see below); GET: its summary
    GET  /api/opsloop/v1/monitoring/models/{model}/drift            latest reports;  POST: check now
    GET  /api/opsloop/v1/monitoring/models/{model}/performance      live metrics;    POST: check now
    POST /api/opsloop/v1/monitoring/models/{model}/labels           ground truth for x-request-id values
    GET  /api/opsloop/v1/monitoring/models/{model}/comparison       champion vs challenger
    GET  /api/opsloop/v1/monitoring/signals                         ?model=&kind=&since=&limit=
    GET  /api/opsloop/v1/monitoring/health                          served deployments' 5xx rate, p99 latency;
                                                                    POST: judge now (model_health signals)

A share (``monitoring.sample_rate``) of the requests scored at ``/serving`` is sampled into the
server's own database, filed under the registered model's name (``version`` is the served model's
``model_uuid``). Every ``monitoring.drift_interval_s`` the models with a reference and samples are
checked for drift when a new sample or a new reference came (what each check compared is stored with
its report, so a process taking the schedule over checks nothing twice), and for live performance when
the check would send what was not sent (a breach over new or corrected labels, or against another bound,
or a resolution: each signal stored keeps the labels it measured), by one process per database
(``schedule_lock_for``: an advisory lock on PostgreSQL, ``SCHEDULE_LOCK`` in the data dir on SQLite); a
reference set with an alias first follows it to the version it names now
(``ServerMonitoring.follow_served``). Every drift and performance signal, from the schedule or from a
``POST``, goes into the AIOps pipeline as if posted to ``/api/opsloop/v1/events`` (to the process leading
it: ``opsloop.server.aiops.leader``), so it opens (or resolves) an incident of service = model name.

Service health (``opsloop.mlops.monitoring.health``): on the same tick, every deployment scored at
``/serving`` (``NAME/REF``, read from the deployments' counters, ``server/deployments.py``, summed over
workers) is judged over its model's ``health.window_s``: the share of 5xx answers and the p99 latency;
a breach fires one ``model_health`` signal and its recovery resolves it, into the same pipeline. The
thresholds are the ``health`` ones stored with the model's reference, else the server's
(``monitoring.health``: ``OPSLOOP_MONITORING__HEALTH__MAX_ERROR_RATE``…), else ``HealthPolicy``'s.
A firing check of a deployment the server no longer counts (no worker has it loaded and the tracker
forgot it, or the server restarted) is resolved with the reason ``deployment no longer tracked``
(when the tracker reads every worker's counters: one worker, or shared counters).

The reference body: inline rows in an MLflow scoring shape (``dataframe_split``, ``dataframe_records``…)
or ``{"path": "runs:/RUN_ID/data/train.parquet"}`` (a run artifact, Parquet or CSV), at least
``MIN_REFERENCE_ROWS`` (50) rows (fewer is a 400 naming the inline key or ``path``); optional ``ref``
(version or alias whose predictions profile the output; default: the one last served, else the
``champion`` alias, else the newest version), ``drift`` and ``performance`` thresholds (see ``opsloop.mlops.monitoring.reference``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import pandas as pd
from fastapi import FastAPI

from opsloop.core.signals import Signal, SignalKind
from opsloop.errors import InvalidInputError, LimitExceededError, NotFoundError, OpsloopError
from opsloop.mlops.monitoring import lineage
from opsloop.mlops.monitoring.api import create_monitoring_app
from opsloop.mlops.monitoring.drift import DriftPolicy
from opsloop.mlops.monitoring.health import HealthMonitor, HealthPolicy, RequestCounts
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.mlops.monitoring.reference import (
    ReferenceRequest,
    health_policy_of,
    policies_of,
    reference_summary,
)
from opsloop.mlops.monitoring.sampling import ModelRecorder, PredictionSampler
from opsloop.mlops.monitoring.schedule_lock import ScheduleLeadership, schedule_lock_for
from opsloop.mlops.monitoring.service import parse_table, reference_with_predictions
from opsloop.mlops.monitoring.signals import resolved_as_unregistered
from opsloop.mlops.monitoring.sql import SqlMonitoringStore
from opsloop.mlops.monitoring.store import ReferenceChangedError
from opsloop.mlops.serving.payload import FORMATS
from opsloop.server.errors import error_body
from opsloop.server.wire import json_response
from opsloop.settings import MonitoringSettings, Settings

__all__ = ["PREFIX", "ServerMonitoring", "register"]

log = logging.getLogger("opsloop.monitoring")
CHAMPION = "champion"  # the alias a reference follows by default, as the retrain runbook promotes to it

PREFIX = "/api/opsloop/v1/monitoring"
MAX_REFERENCE_BYTES = 512 * 1024 * 1024
# the values a drift check needs of current traffic (DriftPolicy.min_rows' default): a reference distribution of
# fewer rows is noise (10 bins of 2 rows...)
MIN_REFERENCE_ROWS = DriftPolicy().min_rows
SCHEDULE_LOCK = "monitoring-schedule.lock"  # in the data dir: the worker holding it runs the schedule


class ServerMonitoring:
    """The server's monitoring: store, sampler, API, the scheduled checks and the way into AIOps.

    Args:
        runtime: the server's ``Runtime`` (its database holds the monitoring tables).
        settings: the ``monitoring`` settings.
        events: what ingests an events-API JSON body into the AIOps pipeline (``Leadership.ingest_events``;
            ``None``: signals are only stored here).
        scoring: the ``RegistryScoringApp`` mounted at ``/serving`` (for the model last served).
        deployments: the server's ``DeploymentTracker`` (every deployment's counters, over all workers;
            ``None``: the counters of the models ``scoring`` has loaded).
    """

    def __init__(self, runtime: Any, settings: MonitoringSettings, events: Callable[[bytes], None] | None = None,
                 scoring: Any = None, deployments: Any = None) -> None:
        self.runtime, self.settings, self.events, self.scoring = runtime, settings, events, scoring
        self.deployments = deployments
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, where counters are read
        self.store = SqlMonitoringStore(runtime.db)
        self.sampler = PredictionSampler(self.store, "", rate=settings.sample_rate, max_samples=settings.max_samples,
                                         max_rows_per_request=settings.max_rows_per_request)
        # the tracker reads every worker's deployments: a firing check of one it no longer counts is closed
        self.health = HealthMonitor(self.store, self.health_policy,
                                    every_deployment=bool(getattr(deployments, "complete", False)))
        self.health.on_signals = self.open_incidents
        self.health_defaults = HealthPolicy(**self.settings.health.model_dump())
        self.api = create_monitoring_app(self.store, None, self.monitor, set_reference=self.set_reference,
                                         error_body=error_body, health=self.check_health,
                                         health_defaults=self.health_defaults, models=self.monitored_models)

    def monitored_models(self) -> list[str]:
        """The registered models with a reference (``GET /models``): a deleted model's reference stays in the
        store, but the model's own routes answer 404."""
        registered = []
        for name in self.store.reference_models():
            with suppress(NotFoundError):
                self.runtime.registry.get_registered_model(name)
                registered.append(name)
        return registered

    def recorder_for(self, name: str) -> ModelRecorder | None:
        """The scoring app's recorder for model ``name`` (``None`` when sampling is off)."""
        return self.sampler.for_model(name) if self.settings.sample_rate > 0 else None

    def monitor(self, name: str) -> ModelMonitor:
        """The monitor of registered model ``name``, with the thresholds stored with its reference.

        Raises:
            NotFoundError: no registered model is called ``name``.
        """
        try:
            self.runtime.registry.get_registered_model(name)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, field="model") from None
        self.sampler.flush()  # what was scored just before is checked, and its labels match
        drift, performance = policies_of(self.store.get_reference(name))
        monitor = ModelMonitor(self.store, name, drift_policy=drift, performance_policy=performance)
        monitor.on_signals = self.open_incidents
        return monitor

    def open_incidents(self, signals: list[Signal]) -> None:
        """Hand signals to the AIOps pipeline as an events-API body (``POST /api/opsloop/v1/events``)."""
        if self.events is None or not signals:
            return
        body = json.dumps({"events": [s.to_dict() for s in signals]}, default=_plain).encode()
        try:
            self.events(body)
        except Exception:  # noqa: BLE001 - the signals stay in the monitoring store; the check itself succeeded
            log.exception("cannot pass %d monitoring signal(s) to the AIOps pipeline", len(signals))

    # --- service health ------------------------------------------------------------------------------------
    def health_policy(self, name: str) -> HealthPolicy:
        """Model ``name``'s health thresholds: those stored with its reference, else the server's
        (``monitoring.health``)."""
        return health_policy_of(self.store.get_reference(name), self.health_defaults)

    def check_health(self, emit: bool = True) -> dict[str, Any]:
        """Judge every served deployment's health now (``emit``: send the signals of what changed).

        Called from a worker thread; the counters are read on the server's event loop (``loop``, once the
        lifespan set it), where the deployment tracker reads and samples them, so their reads never interleave.
        """
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            counts = self._request_counts()
        else:
            counts = asyncio.run_coroutine_threadsafe(_call(self._request_counts), loop).result(timeout=60)
        return self.health.observe(counts, emit=emit)

    def _request_counts(self) -> dict[tuple[str, str], RequestCounts]:
        """Every deployment's cumulative counters, by ``(model name, version or alias)``."""
        if self.deployments is not None:
            return self.deployments.request_counts()
        from opsloop.mlops.serving.router import name_and_ref

        return {name_and_ref(uri): RequestCounts.of(app.metrics.snapshot()) for uri, app in self._served()}

    # --- the reference ------------------------------------------------------------------------------------
    def set_reference(self, monitor: ModelMonitor, body: Any) -> dict[str, Any]:
        """Profile the reference a request gives (inline rows or a run artifact) and store it.

        Raises:
            InvalidInputError: the document is malformed, or holds fewer than ``MIN_REFERENCE_ROWS`` rows
                (``field``: the inline format's key or ``path``).
        """
        return self._set_reference(monitor, ReferenceRequest.parse(body),
                                   field=next((k for k in body if k in FORMATS), "path"))

    def _set_reference(self, monitor: ModelMonitor, request: ReferenceRequest,
                       replacing: dict[str, Any] | None = None, field: str = "path") -> dict[str, Any]:
        frame = request.rows if request.rows is not None else self._read(request.path or "")
        if len(frame) < MIN_REFERENCE_ROWS:
            raise InvalidInputError(f"the reference data has {len(frame)} row{'s' * (len(frame) != 1)}; a drift "
                                    f"reference needs at least {MIN_REFERENCE_ROWS} (the values a drift check needs "
                                    "by default): fewer cannot stand for the training distribution", field=field)
        frame = frame.head(self.settings.max_reference_rows)
        model, uri = self._model_for(monitor.model, request.ref)
        preds = None
        if model is not None:
            frame, preds = reference_with_predictions(model, frame)
        origin = lineage.data_origin(request.path, *self._version_of(uri), uri, getattr(model, "model_uuid", None))
        profile = monitor.set_reference(frame, preds, policies=request.policies, replacing=replacing, origin=(
            lineage.followed(origin, replacing.get("origin") or {}) if replacing is not None else origin))
        return {**reference_summary(monitor.model, profile, self.health_defaults),
                "model_uri": uri if preds is not None else None}

    def _version_of(self, uri: str | None) -> tuple[str | None, str | None]:
        """``(alias, version)`` a ``models:/`` URI names now (``alias`` ``None`` for a version URI)."""
        from opsloop.mlops.registry.uris import parse_model_uri

        if uri is None:
            return None, None
        parsed = parse_model_uri(uri)
        alias = parsed.alias if parsed.kind == "alias" else "latest" if parsed.kind == "latest" else None
        try:
            return alias, str(self.runtime.registry.resolve_version(parsed).version)
        except NotFoundError:
            return alias, None

    def follow_served(self, name: str) -> bool:
        """Rebuild ``name``'s reference from the training data of the version its alias serves now.

        Nothing happens when the reference follows no alias or the alias has not moved. When the new
        version's training data is unknown or unreadable, the reference stays and its ``behind`` says
        so (once per version). Returns whether the reference was rebuilt.
        """
        profile = self.store.get_reference(name) or {}
        origin = profile.get("origin") or {}
        alias = origin.get("alias")
        if not alias:
            return False
        try:
            served = self.runtime.registry.get_model_version_by_alias(name, alias)
        except NotFoundError:  # the alias was removed: keep measuring against what it served
            return False
        version = str(served.version)
        if version in (origin.get("version"), (origin.get("behind") or {}).get("version")):
            return False
        tags: dict[str, str] = {}
        if served.run_id:
            with suppress(NotFoundError):
                tags.update(self.runtime.tracking.get_run(served.run_id).tags)
        path = lineage.training_data_of(served.run_id, {**tags, **served.tags}, origin.get("data"))
        detail = f"no tag {lineage.TRAINING_DATA_TAG} on the version or its run"
        if path is not None:
            request = ReferenceRequest(rows=None, path=path, ref=alias, policies=profile.get("policies") or {})
            try:
                self._set_reference(self.monitor(name), request, replacing=profile)
                log.info("drift reference of %s follows %s@%s: version %s (was %s), data %s",
                         name, name, alias, version, origin.get("version"), path)
                return True
            except ReferenceChangedError:  # set meanwhile (by an operator): that one stays
                return False
            except OpsloopError as exc:
                detail = f"{path}: {exc.message}"
        why = (f"version {version} has no known training data ({detail}); drift is still measured against "
               f"the training data of version {origin.get('version') or '?'}")
        if not self.store.replace_reference(name, {**profile, "origin": lineage.behind(origin, version, why)},
                                            revision=profile.get("revision")):
            return False  # set meanwhile: that one stays
        log.warning("drift reference of %s stays at version %s although %s@%s is version %s: %s",
                    name, origin.get("version"), name, alias, version, why)
        return False

    def _read(self, path: str) -> pd.DataFrame:
        from opsloop.mlops.registry.resolver import artifact_store_key
        from opsloop.mlops.registry.uris import parse_model_uri

        if path.startswith("runs:/"):
            parse_model_uri(path, field="path")
            artifact_uri = self.runtime.registry.artifact_uri(path)
        elif path.startswith("mlflow-artifacts:"):
            artifact_uri = path
        else:
            raise InvalidInputError("'path' must name a run artifact (runs:/RUN_ID/path.parquet or .csv) or an "
                                    "mlflow-artifacts: URI of this server", field="path")
        key = artifact_store_key(artifact_uri)
        size = self.runtime.artifacts.size(key)
        if size is None:
            raise NotFoundError(f"no artifact at {path}", field="path")
        if size > MAX_REFERENCE_BYTES:
            raise LimitExceededError(f"{path} is {size} bytes, over the {MAX_REFERENCE_BYTES}-byte limit", field="path")
        data = b"".join(self.runtime.artifacts.open_read(key))
        return parse_table(io.BytesIO(data), key, self.settings.max_reference_rows, field="path")

    def _model_for(self, name: str, ref: str | None) -> tuple[Any, str | None]:
        """The served model whose predictions profile the output: ``ref``'s, else the one last served,
        else the ``champion`` alias's (followed when it moves), else the newest version; ``(None, None)``
        when there is none or it cannot load (without ``ref``)."""
        from opsloop.mlops.serving.router import model_uri_for

        if ref is not None:
            uri = model_uri_for(name, ref)
            return self._load(uri, field="ref"), uri
        for uri, app in reversed(self._served()):
            if uri.startswith((f"models:/{name}/", f"models:/{name}@")):
                return app.slots.champion, uri
        registry = self.runtime.registry
        versions = registry.get_latest_versions(name)
        if not versions:
            return None, None
        try:  # the newest version may be a candidate that failed its gate; the champion is what serves
            registry.get_model_version_by_alias(name, CHAMPION)
            uri = model_uri_for(name, CHAMPION)
        except NotFoundError:
            uri = model_uri_for(name, str(max(int(v.version) for v in versions)))
        try:
            return self._load(uri, field="ref"), uri
        except Exception as exc:  # noqa: BLE001 - without a model the features are still profiled
            log.warning("reference of %s without predictions: cannot load %s: %s", name, uri, exc)
            return None, None

    def _served(self) -> list[tuple[str, Any]]:
        """The scoring app's loaded models, least recently used first (read from a worker thread)."""
        if self.scoring is None:
            return []
        try:
            return list(self.scoring.served().items())
        except RuntimeError:  # the event loop changed the cache while it was read: take none
            return []

    def _load(self, uri: str, field: str) -> Any:
        from opsloop.mlops.registry import LocalModelResolver
        from opsloop.mlops.serving.loading import load_model

        try:
            return load_model(uri, LocalModelResolver.for_runtime(self.runtime))
        except NotFoundError as exc:
            raise NotFoundError(exc.message, field=field) from None

    # --- the schedule -------------------------------------------------------------------------------------
    def check_all(self, stop: threading.Event | None = None) -> list[str]:
        """One round over each model with a reference and samples, after its reference follows its alias
        (``follow_served``): drift when a new sample or a new reference makes it due (``drift_due``: what
        the last check compared is in the store, so a leader taking over checks nothing twice), and
        performance when it would send what was not sent (``check_performance_when_due``: a breach still firing over
        the same labels is not sent again). A failing model is logged and the others are still checked.
        Returns the models checked."""
        checked = []
        self.sampler.flush()  # queued samples first: a model whose first samples are queued is checked too
        for name in self.store.reference_models():
            if stop is not None and stop.is_set():
                break
            try:
                if not self._registered(name):
                    continue
                self.follow_served(name)
                if not self.store.list_samples(name, limit=1):
                    continue
                monitor = self.monitor(name)
                if monitor.drift_due():
                    monitor.check_drift()
                monitor.check_performance_when_due()
                checked.append(name)
            except Exception:  # noqa: BLE001 - one model's failure must not stop the others' checks
                log.exception("monitoring check of model %s failed", name)
        return checked

    def _registered(self, name: str) -> bool:
        """Whether ``name`` is still a registered model; when it is not (deleted), its drift and performance
        signals still firing are resolved (``model_deleted``), once: it would otherwise fail each round,
        and its incident stay open for ever."""
        try:
            self.runtime.registry.get_registered_model(name)
            return True
        except NotFoundError:
            pass
        firing = [s for kind in (SignalKind.MODEL_DRIFT, SignalKind.MODEL_PERFORMANCE)
                  for s in _newest_by_labels(self.store.list_signals(model=name, kind=kind, limit=500))
                  if s.status == "firing"]
        resolved = resolved_as_unregistered(firing)
        for s in resolved:
            self.store.add_signal(s)
        if resolved:
            log.info("model %s is no longer registered: %d monitoring signal(s) resolved", name, len(resolved))
        self.open_incidents(resolved)
        return False


def _newest_by_labels(signals: list[Signal]) -> list[Signal]:
    """The newest of ``signals`` (newest first) of each label set."""
    newest: dict[tuple[tuple[str, str], ...], Signal] = {}
    for s in signals:
        newest.setdefault(tuple(sorted(s.labels.items())), s)
    return list(newest.values())


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


class _Api:
    """The monitoring API, once the server's lifespan has built it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        monitoring = getattr(self.app.state, "model_monitoring", None)
        if monitoring is None:
            await json_response({"error_code": "TEMPORARILY_UNAVAILABLE",
                                 "message": "model monitoring is not running"}, 503)(scope, receive, send)
            return
        await monitoring.api(scope, receive, send)


async def _schedule(monitoring: ServerMonitoring, interval: float, stop: asyncio.Event,
                    halt: threading.Event, lock: ScheduleLeadership) -> None:
    while interval > 0:
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        try:
            if not await asyncio.to_thread(lock.acquire):
                continue  # another worker of this server runs the checks (and takes them back if it exits)
            await asyncio.to_thread(monitoring.check_health)
            await asyncio.to_thread(monitoring.check_all, halt)
        except Exception:  # noqa: BLE001 - the store may be briefly unavailable; keep the schedule
            log.exception("scheduled monitoring checks failed")


def register(app: FastAPI, settings: Settings) -> None:
    app.mount(PREFIX, _Api(app))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            leadership = getattr(a.state, "aiops_leadership", None)
            monitoring = await asyncio.to_thread(ServerMonitoring, a.state.runtime, settings.monitoring,
                                                 leadership.ingest_events if leadership else None,
                                                 getattr(a.state, "scoring", None),
                                                 getattr(a.state, "deployments", None))
            monitoring.sampler.start()
            a.state.model_monitoring = monitoring
            monitoring.loop = asyncio.get_running_loop()
            stop, halt = asyncio.Event(), threading.Event()
            lock = schedule_lock_for(a.state.runtime.db, settings.storage.data_dir / SCHEDULE_LOCK)
            task = asyncio.create_task(_schedule(monitoring, settings.monitoring.drift_interval_s, stop, halt, lock),
                                       name="opsloop-model-monitoring")
            try:
                yield state
            finally:
                stop.set()
                halt.set()  # a round under way ends after the model it is checking
                with suppress(asyncio.CancelledError):
                    await task
                await asyncio.to_thread(lock.release)
                a.state.model_monitoring = None
                await asyncio.to_thread(monitoring.sampler.stop)  # pending samples written before the store closes

    app.router.lifespan_context = lifespan
