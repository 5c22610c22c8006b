"""Running the scoring app: one process, or several worker processes sharing one listening socket."""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInputError, InvalidStateError
from opsloop.mlops.serving.app import DEFAULT_MAX_BODY_BYTES, ScoringApp
from opsloop.mlops.serving.loading import LoadedModel, load_model
from opsloop.mlops.serving.metrics import MetricsTable, ServingMetrics
from opsloop.mlops.serving.traffic import ModelSlots, TrafficPolicy
from opsloop.mlops.serving.uris import ModelResolver, is_registry_uri
from opsloop.mlops.serving.watch import AliasWatcher

if TYPE_CHECKING:
    from opsloop.mlops.monitoring.service import MonitorConfig

__all__ = ["ServeOptions", "build_app", "open_socket", "serve"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ServeOptions:
    """Everything ``opsloop serve`` needs; picklable, so it travels to worker processes.

    Attributes:
        model_uri: the champion (directory, ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/``).
        challenger_uri: an optional challenger, scored per ``traffic``.
        workers: worker processes sharing the listening socket.
        max_body_bytes: request bodies above this get 413.
        refresh_seconds: re-resolve registry URIs this often and hot-swap on change (0: never).
        monitoring: sample requests into a monitoring store and expose ``/labels``, ``/monitoring/*``.
        micro_batching: requests that are ready together share one model call.
    """

    model_uri: str
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    challenger_uri: str | None = None
    traffic: TrafficPolicy = field(default_factory=TrafficPolicy)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    refresh_seconds: float = 0.0
    monitoring: MonitorConfig | None = None
    micro_batching: bool = True
    log_level: str = "warning"


def build_app(options: ServeOptions, resolver: ModelResolver | None = None, *,
              champion: LoadedModel | None = None, challenger: LoadedModel | None = None,
              table: MetricsTable | None = None, worker: int = 0) -> ScoringApp:
    """The ASGI scoring app for ``options`` (models are loaded unless given).

    Raises:
        NotFoundError, InvalidInputError, MissingDependencyError: a model cannot be resolved or loaded.
    """
    champion = champion or load_model(options.model_uri, resolver)
    if challenger is None and options.challenger_uri:
        challenger = load_model(options.challenger_uri, resolver)
    policy = options.traffic
    if challenger is not None and policy.mode == "single":
        policy = TrafficPolicy("shadow", policy.challenger_weight)
    slots = ModelSlots(champion, challenger, policy)
    watchers = [AliasWatcher(slots, uri, resolver, options.refresh_seconds, slot=slot)
                for slot, uri in (("champion", options.model_uri), ("challenger", options.challenger_uri))
                if uri and is_registry_uri(uri) and options.refresh_seconds > 0]
    monitor = options.monitoring.build(champion, worker=worker) if options.monitoring else None
    metrics = ServingMetrics(table, worker, model=options.model_uri)
    if monitor is not None:
        _wire_monitor(monitor, options, metrics, watchers, worker)

    def status() -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for w in watchers:
            doc.setdefault("aliases", []).append(w.status()["alias"])
        return doc

    def startup() -> None:
        for w in watchers:
            w.start()
        if monitor is not None:
            monitor.start()

    def shutdown() -> None:
        for w in watchers:
            w.stop()
        if monitor is not None:
            monitor.stop()

    return ScoringApp(slots, metrics=metrics, max_body_bytes=options.max_body_bytes,
                      recorder=monitor.recorder if monitor else None, monitoring=monitor.app if monitor else None,
                      status=status, on_startup=startup, on_shutdown=shutdown,
                      micro_batching=options.micro_batching)


def open_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; a clear error when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror}", field="port") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: ScoringApp, options: ServeOptions) -> Any:
    import uvicorn

    loop = "uvloop" if _has("uvloop") else "asyncio"
    http = "httptools" if _has("httptools") else "h11"
    config = uvicorn.Config(app, loop=loop, http=http, lifespan="on", access_log=False,
                            log_level=options.log_level, timeout_keep_alive=30, server_header=False,
                            date_header=False)
    return uvicorn.Server(config)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _freeze_heap() -> None:
    """Move the loaded model and libraries out of the collector's reach: shorter GC pauses."""
    gc.collect()
    gc.freeze()


def _worker_main(options: ServeOptions, resolver: ModelResolver | None, sock: socket.socket,
                 table: MetricsTable, worker: int, ready: Any) -> None:
    try:
        app = build_app(options, resolver, table=table, worker=worker)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which exits with it
        ready.put((worker, f"{type(exc).__name__}: {exc}"))
        return
    ready.put((worker, None))
    _freeze_heap()
    _uvicorn_server(app, options).run(sockets=[sock])


def serve(options: ServeOptions, resolver: ModelResolver | None = None,
          on_ready: Any = None) -> None:
    """Load the model(s), listen, and serve until interrupted.

    The models load once in this process first, so a model that cannot load is a startup error
    raised here (before any port is opened); each worker then loads its own copy.

    Raises:
        OpsloopError: the model cannot be resolved or loaded, or the address is taken.
    """
    champion = load_model(options.model_uri, resolver)
    challenger = load_model(options.challenger_uri, resolver) if options.challenger_uri else None
    sock = open_socket(options.host, options.port)
    if options.workers <= 1:
        app = build_app(options, resolver, champion=champion, challenger=challenger)
        if on_ready:
            on_ready()
        _freeze_heap()
        _uvicorn_server(app, options).run(sockets=[sock])
        return
    del champion, challenger
    # the shared metrics table lives in tmpfs when there is one: pages of a disk-backed file get
    # written back by the kernel, and a write to a page under writeback can stall a request
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="opsloop-serve-", dir=shm) as tmp:
        table = MetricsTable(options.workers, os.path.join(tmp, "metrics.bin"))
        _run_workers(options, resolver, sock, table, on_ready)


def _run_workers(options: ServeOptions, resolver: ModelResolver | None, sock: socket.socket,
                 table: MetricsTable, on_ready: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(options, resolver, sock, table, i, ready),
                         name=f"opsloop-serve-{i}", daemon=False) for i in range(options.workers)]
    for p in procs:
        p.start()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive():
                p.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in procs:
            worker, error = ready.get(timeout=300)
            if error:
                stop()
                raise InvalidStateError(f"worker {worker} failed to start: {error}")
        if on_ready:
            on_ready()
        for p in procs:
            p.join()
        if not stopping:
            codes = [p.exitcode for p in procs]
            raise InvalidStateError(f"all serving workers exited (exit codes {codes})")
    finally:
        stop()
        for s, h in previous.items():
            signal.signal(s, h)
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(timeout=5)


def _ref_of(uri: str) -> str:
    """The version or alias a ``models:/`` URI serves (``local`` for any other URI): the ``ref`` label of the
    served model's health signals."""
    if not uri.startswith("models:/"):
        return "local"
    rest = uri.removeprefix("models:/")
    return rest.rpartition("@")[2] if "@" in rest else rest.rpartition("/")[2]


def _wire_monitor(monitor: Any, options: ServeOptions, metrics: ServingMetrics, watchers: list[AliasWatcher],
                  worker: int) -> None:
    """The monitor's schedule judges the 5xx rate and p99 latency of every worker's requests; the worker that
    profiled the ``--reference`` at startup profiles it again when the served alias moves."""
    monitor.count_requests(_ref_of(options.model_uri), lambda: _request_counts(metrics))
    reference = options.monitoring.reference_path if options.monitoring else None
    if reference and worker == 0:
        for w in watchers:
            if w.slot == "champion":
                w.on_swap = _reference_follower(monitor, reference, options.model_uri)


def _reference_follower(monitor: Any, path: str, uri: str) -> Callable[[LoadedModel], None]:
    """What follows a move of the served alias: the ``--reference`` data profiled again with the predictions
    of the model it serves now (the prediction drift of its traffic is measured against those, from now on,
    as the server's references follow their alias)."""

    def follow(model: LoadedModel) -> None:
        from opsloop.mlops.monitoring import lineage
        from opsloop.mlops.monitoring.service import profile_reference

        before = (monitor.monitor.store.get_reference(monitor.monitor.model) or {}).get("origin") or {}
        origin = lineage.followed(lineage.data_origin(path, _ref_of(uri), None, uri, model.model_uuid), before)
        profile_reference(monitor.monitor, model, path, origin)
        log.info("drift reference of %s follows %s: model %s", monitor.monitor.model, uri, model.model_uuid)

    return follow


def _request_counts(metrics: ServingMetrics) -> Any:
    from opsloop.mlops.monitoring.health import RequestCounts

    return RequestCounts.of(metrics.snapshot())
