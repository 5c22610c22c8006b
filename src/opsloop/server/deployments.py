"""Models the server scores itself (``/serving/...``): traffic, latency and errors over time.

    GET /api/opsloop/v1/deployments                 every model scored since the server started
    GET /api/opsloop/v1/deployments/{name}/{ref}    one of them, with its latency histogram and series

A deployment is one ``NAME/REF`` scored at ``/serving/{name}/{version or alias}/invocations``. Totals
and latency percentiles come from the scoring app's own counters (percentiles estimated inside the
latency histogram's buckets, as Prometheus' ``histogram_quantile`` does). Every ``SAMPLE_SECONDS`` a
sampler reads those counters into a ring of ``HISTORY`` samples per deployment, so memory stays
bounded. A model dropped from the scoring app's cache (or re-resolved to a new version) keeps its
totals here.

With ``opsloop server --workers N`` (N > 1) every worker counts into ``SharedCounters``: one
memory-mapped ``MetricsTable`` per deployment, one row per worker slot, in a folder of this run of the
server. So every worker's answer (and ``/serving/.../metrics``) is the sum over all workers, a deployment
scored by one worker is listed by all, and a worker restarted in its slot adds to what it had counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.routing import Mount

from opsloop.errors import NotFoundError
from opsloop.mlops.serving.metrics import (
    ERROR_KINDS,
    LATENCY_BUCKETS,
    STATUS_CLASSES,
    MetricsSnapshot,
    MetricsTable,
    ServingMetrics,
)
from opsloop.mlops.serving.router import RegistryScoringApp, model_uri_for
from opsloop.server.wire import json_response
from opsloop.settings import Settings

__all__ = ["SAMPLE_SECONDS", "DeploymentTracker", "SharedCounters", "counters_directory", "latency_quantile",
           "register"]

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0
HISTORY = 720  # one hour of samples per deployment
MAX_TRACKED = 64  # deployments remembered (those no longer loaded are forgotten first)
_NS, _NK, _NL = len(STATUS_CLASSES), len(ERROR_KINDS), len(LATENCY_BUCKETS) + 1
_LAT = slice(_NS + _NK, _NS + _NK + _NL)

router = APIRouter(prefix="/api/opsloop/v1/deployments", tags=["deployments"])


def latency_quantile(counts: Any, q: float) -> float | None:
    """Seconds below which a share ``q`` of requests finished, interpolated within its bucket.

    ``counts`` are per bucket of ``LATENCY_BUCKETS`` plus the overflow bucket (answered with the
    largest bound). ``None`` when there is no request.
    """
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        return None
    rank = q * total
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, rank, side="left"))
    if i >= len(LATENCY_BUCKETS):
        return LATENCY_BUCKETS[-1]
    lower = LATENCY_BUCKETS[i - 1] if i > 0 else 0.0
    before = cum[i - 1] if i > 0 else 0.0
    return float(lower + (LATENCY_BUCKETS[i] - lower) * (rank - before) / counts[i])


def _vector(snap: MetricsSnapshot) -> np.ndarray:
    """status counts, error kinds, latency buckets, latency sum: one array to add and subtract."""
    return np.asarray([*snap.status.values(), *snap.error_kinds.values(), *snap.latency_counts, snap.latency_sum],
                      dtype=float)


def _name_and_ref(uri: str) -> tuple[str, str]:
    """``models:/NAME/3`` → (NAME, "3"); ``models:/NAME@ALIAS`` → (NAME, ALIAS) (see ``model_uri_for``)."""
    rest = uri.removeprefix("models:/")
    name, _, version = rest.rpartition("/")
    if name and version.isdigit():
        return name, version
    name, _, alias = rest.rpartition("@")
    return name, alias


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) * 1000.0, 3)


class _Track:
    """Counters and samples of one deployment; ``base`` holds what apps it replaced had counted."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.metrics: Any = None
        self.app: weakref.ref[Any] | None = None
        self.model: dict[str, Any] = {}
        self.base = np.zeros(_NS + _NK + _NL + 1)
        self.last = np.zeros_like(self.base)
        self.sampled = np.zeros_like(self.base)
        self.sampled_at = 0.0
        self.samples: deque[tuple[float, float, np.ndarray]] = deque(maxlen=HISTORY)
        self.loaded = False

    def read(self, metrics: Any) -> None:
        if metrics is not self.metrics:  # new counters (an app reloaded or re-resolved): they start at 0
            self.base += self.last
            self.last = np.zeros_like(self.base)
            self.metrics = metrics
        self.last = _vector(metrics.snapshot())

    def read_app(self, app: Any) -> None:
        self.read(app.metrics)
        if self.app is None or self.app() is not app:  # a weak reference: an unloaded model is not kept
            model = app.slots.champion.describe()
            self.app = weakref.ref(app)
            self.model = {"model_uuid": model.get("model_uuid"), "flavor": model.get("flavor")}

    @property
    def total(self) -> np.ndarray:
        return self.base + self.last

    def sample(self, now: float) -> None:
        total = self.total
        seconds = now - self.sampled_at if self.sampled_at else SAMPLE_SECONDS
        self.samples.append((now, max(seconds, 1e-3), total - self.sampled))
        self.sampled, self.sampled_at = total, now


def _counts(v: np.ndarray) -> dict[str, Any]:
    requests, errors = float(v[:_NS].sum()), float(v[1:_NS].sum())
    lat = v[_LAT]
    return {
        "requests": int(requests), "errors": int(errors),
        "error_rate": errors / requests if requests else None,
        "p50_ms": _ms(latency_quantile(lat, 0.5)), "p95_ms": _ms(latency_quantile(lat, 0.95)),
        "p99_ms": _ms(latency_quantile(lat, 0.99)),
        "mean_ms": _ms(v[-1] / lat.sum()) if lat.sum() else None,
    }


class DeploymentTracker:
    """Reads the scoring app's counters; ``sample()`` appends one point per deployment to its ring."""

    def __init__(self, scoring: Callable[[], RegistryScoringApp | None],
                 counters: SharedCounters | None = None) -> None:
        self._scoring = scoring
        self._counters = counters
        self._tracks: dict[str, _Track] = {}
        self._started = time.time()

    def refresh(self) -> dict[str, _Track]:
        """Read every deployment's counters now; returns the deployments by URI."""
        scoring = self._scoring()
        served = scoring.served() if scoring is not None else {}
        if self._counters is not None:
            self._read_shared(self._counters, served)
        else:
            for uri, app in served.items():
                self._tracks.setdefault(uri, _Track(uri)).read_app(app)
            for uri, track in self._tracks.items():
                track.loaded = uri in served
        self._forget()
        return self._tracks

    def _read_shared(self, counters: SharedCounters, served: dict[str, Any]) -> None:
        """Every worker's deployments; one another worker deleted (forgot) is dropped here too."""
        shared = counters.refresh(set(served))
        for uri in [u for u in self._tracks if u not in shared and u not in served]:
            del self._tracks[uri]
        for uri in shared.keys() | served.keys():
            old = self._tracks.get(uri)
            if old is not None and old.metrics is not None and uri in shared and old.metrics is not shared[uri]:
                del self._tracks[uri]  # its table was deleted (forgotten) and made again: it counts anew
            new = uri not in self._tracks
            track = self._tracks.setdefault(uri, _Track(uri))
            if uri in served:
                track.read_app(served[uri])
                counters.set_model(uri, track.model)
            else:
                track.read(shared[uri])
                track.model = counters.model_of(uri)
            if new and counters.created(uri) < self._started:  # counted before this worker started:
                track.sampled, track.sampled_at = track.total, time.time()  # not in its series
            track.loaded = counters.loaded(uri)

    def sample(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for track in self.refresh().values():
            if track.loaded or track.samples:
                track.sample(now)

    def _forget(self) -> None:
        extra = len(self._tracks) - MAX_TRACKED
        if extra > 0:
            idle = sorted((t for t in self._tracks.values() if not t.loaded), key=lambda t: t.sampled_at)
            for track in idle[:extra]:
                if self._counters is None or self._counters.forget(track.uri):
                    del self._tracks[track.uri]

    def summary(self, track: _Track) -> dict[str, Any]:
        name, ref = _name_and_ref(track.uri)
        recent = [s for s in track.samples if s[0] >= time.time() - 60.0]
        window = sum(s[1] for s in recent)
        return {
            "name": f"{name}/{ref}", "model": name, "ref": ref, "uri": track.uri,
            "version": ref if ref.isdigit() else None, "alias": None if ref.isdigit() else ref,
            "status": "serving" if track.loaded else "unloaded",
            "invocations": f"/serving/{name}/{ref}/invocations", "model_uuid": track.model.get("model_uuid"),
            "flavor": track.model.get("flavor"),
            "requests_per_s": sum(float(s[2][:_NS].sum()) for s in recent) / window if window else None,
            **_counts(track.total),
        }

    def detail(self, track: _Track) -> dict[str, Any]:
        total = track.total
        return {
            **self.summary(track),
            "status_counts": dict(zip(STATUS_CLASSES, map(int, total[:_NS]), strict=True)),
            "error_kinds": dict(zip(ERROR_KINDS, map(int, total[_NS:_NS + _NK]), strict=True)),
            "latency_histogram": {"le_seconds": [*LATENCY_BUCKETS, None], "counts": [int(c) for c in total[_LAT]]},
            "sample_seconds": SAMPLE_SECONDS,
            "series": [{"time": t, "seconds": round(sec, 3), "requests_per_s": float(d[:_NS].sum()) / sec,
                        **_counts(d)} for t, sec, d in track.samples],
        }

    async def run(self) -> None:
        """Sample every ``SAMPLE_SECONDS`` until cancelled."""
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self.sample()


_LOADED = MetricsTable().width  # a cell after a worker's row of counters: 1 while it has the model loaded
_WIDTH = _LOADED + 1
PENDING_SECONDS = 60.0  # a model handed counters counts as loaded until its app is served, or this long


def _digest(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:24]


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


class SharedCounters:
    """Deployment counters shared by the worker processes of ``opsloop server --workers N``.

    ``directory`` (one per run of the server, see ``counters_directory``) holds a ``MetricsTable`` file per
    deployment (``<digest>.bin``, its URI and model in ``<digest>.json``) with one row per worker slot, and
    a lock file per slot. A worker owns the slot whose lock it holds until it exits (the lock goes with the
    process, even on a crash); the worker started in its place takes the slot and adds to its row, so
    totals never go backwards. A row's last cell says whether its worker has the model loaded; only rows
    of slots whose lock is held count there. Tables are created, listed and deleted under ``tables.lock``.

    Args:
        directory: this run's folder (created).
        slots: rows per table: the workers plus one, for a worker uvicorn starts before retiring the one it
            replaces.
        slot, slot_fd: the row this process owns and the descriptor holding its lock (see ``claim``).
    """

    def __init__(self, directory: Path, slots: int, slot: int, slot_fd: int) -> None:
        self.directory, self.slots, self.slot = directory, slots, slot
        self._slot_fd = slot_fd
        self._lock_fd = os.open(directory / "tables.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._guard = threading.RLock()  # models load in threads (``RegistryScoringApp._load``)
        self._metrics: dict[str, ServingMetrics] = {}
        self._files: dict[str, tuple[str, int]] = {}  # digest -> (URI, inode of its table)
        self._pending: dict[str, float] = {}
        self._models: dict[str, tuple[int, dict[str, Any]]] = {}  # URI -> (mtime of its .json, model)
        self._live: list[int] = [slot]

    @classmethod
    def claim(cls, directory: Path, slots: int) -> SharedCounters | None:
        """Counters in ``directory`` with a free slot of their own; ``None`` when every slot is held."""
        import fcntl

        directory.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # another worker's liveness probe may hold a free slot's lock for an instant
            for slot in range(slots):
                fd = os.open(directory / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                return cls(directory, slots, slot, fd)
            time.sleep(0.05)
        return None

    def close(self) -> None:
        """Let go of the slot (a worker started later takes it, and its row's counts)."""
        with self._guard:
            for fd in (self._slot_fd, self._lock_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._metrics.clear()

    @contextlib.contextmanager
    def _tables(self, exclusive: bool) -> Iterator[None]:
        import fcntl

        with self._guard:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def metrics_for(self, uri: str) -> ServingMetrics:
        """The counters a scoring app of ``uri`` records into: this worker's row of the shared table."""
        with self._tables(exclusive=True):
            metrics = self._open(uri, create=True)
            assert metrics is not None
            self._pending[uri] = time.monotonic()
            metrics.row[_LOADED] = 1.0
            return metrics

    def _open(self, uri: str, *, create: bool) -> ServingMetrics | None:
        """``uri``'s table, mapped again when its file was replaced (under the tables lock)."""
        digest = _digest(uri)
        path = self.directory / f"{digest}.bin"
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            if not create:
                return None
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            np.zeros((self.slots, _WIDTH)).tofile(tmp)
            os.replace(tmp, path)
            _write_json(path.with_suffix(".json"), {"uri": uri, "model": {}, "created": time.time()})
            inode = path.stat().st_ino
        if self._files.get(digest) != (uri, inode) or uri not in self._metrics:
            table = MetricsTable(self.slots, path, width=_WIDTH)
            self._metrics[uri] = ServingMetrics(table, self.slot, model=uri)
            self._files[digest] = (uri, inode)
        return self._metrics[uri]

    def refresh(self, served: set[str]) -> dict[str, ServingMetrics]:
        """Every deployment's counters (also those only other workers scored), by URI; marks in this
        worker's rows which of them it has loaded (``served``)."""
        with self._tables(exclusive=False):
            digests = {p.stem for p in self.directory.glob("*.json")}
            for digest in [d for d in self._files if d not in digests]:  # forgotten by another worker
                self._metrics.pop(self._files.pop(digest)[0], None)
            for digest in digests:
                known = self._files.get(digest)
                with contextlib.suppress(OSError, ValueError, KeyError):
                    uri = known[0] if known else json.loads((self.directory / f"{digest}.json").read_text())["uri"]
                    self._open(uri, create=False)
            now = time.monotonic()
            self._pending = {u: t for u, t in self._pending.items() if u not in served and now - t < PENDING_SECONDS}
            for uri, metrics in self._metrics.items():
                metrics.row[_LOADED] = 1.0 if uri in served or uri in self._pending else 0.0
            self._live = self._live_slots()
            return dict(self._metrics)

    def _live_slots(self) -> list[int]:
        """Slots whose lock a worker holds: this one's, and those a probe cannot lock."""
        return [slot for slot in range(self.slots)
                if slot == self.slot or _held(self.directory / f"slot-{slot}.lock")]

    def loaded(self, uri: str) -> bool:
        """Whether a live worker had ``uri`` loaded at the last ``refresh``."""
        metrics = self._metrics.get(uri)
        return metrics is not None and bool(metrics.table.data[self._live, _LOADED].any())

    def forget(self, uri: str) -> bool:
        """Delete ``uri``'s table unless a live worker has it loaded; whether it is gone."""
        with self._tables(exclusive=True):
            self._live = self._live_slots()
            if self.loaded(uri) or uri in self._pending:
                return False
            digest = _digest(uri)
            for suffix in (".json", ".bin"):
                (self.directory / f"{digest}{suffix}").unlink(missing_ok=True)
            self._files.pop(digest, None)
            self._metrics.pop(uri, None)
            self._models.pop(uri, None)
            return True

    def set_model(self, uri: str, model: dict[str, Any]) -> None:
        """Tell the other workers which model ``uri`` serves (they may not have it loaded)."""
        if uri in self._models and self._models[uri][1] == model:
            return
        with self._tables(exclusive=True), contextlib.suppress(OSError, ValueError):
            path = self.directory / f"{_digest(uri)}.json"
            _write_json(path, {**json.loads(path.read_text()), "model": model})
            self._models[uri] = (path.stat().st_mtime_ns, model)

    def model_of(self, uri: str) -> dict[str, Any]:
        """The model ``uri`` serves, as the last worker that loaded it said."""
        seen = self._models.get(uri)
        with contextlib.suppress(OSError, ValueError):
            path = self.directory / f"{_digest(uri)}.json"
            mtime = path.stat().st_mtime_ns
            if seen is None or seen[0] != mtime:
                seen = (mtime, dict(json.loads(path.read_text()).get("model") or {}))
                self._models[uri] = seen
        return seen[1] if seen else {}

    def created(self, uri: str) -> float:
        """When the first worker scoring ``uri`` created its table (0 when unknown)."""
        with contextlib.suppress(OSError, ValueError, TypeError):
            return float(json.loads((self.directory / f"{_digest(uri)}.json").read_text()).get("created", 0.0))
        return 0.0


def counters_root(settings: Settings) -> Path:
    """Where runs of the server keep shared counters: tmpfs when there is one (a write to a page of a
    disk-backed file can wait for its writeback), else the data dir."""
    shm = Path("/dev/shm")
    if os.access(shm, os.W_OK):
        return shm / f"opsloop-deployments-{os.getuid()}"
    return Path(settings.storage.data_dir).resolve() / "deployments"


def counters_directory(root: Path, supervisor: psutil.Process) -> Path:
    """The folder of one run of the server: its supervisor's pid and start time (pids get reused)."""
    try:
        started = supervisor.create_time(monotonic=True)  # psutil 7: seconds since boot
    except TypeError:
        started = supervisor.create_time()
    return root / f"{supervisor.pid}-{round(started * 1000)}"


def _held(lock: Path) -> bool:
    import fcntl

    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _remove_stale_runs(root: Path) -> None:
    """Delete folders of runs that are over: their supervisor is gone and no worker holds a slot there."""
    for run in root.glob("*-*"):
        pid, _, started = run.name.partition("-")
        if not (pid.isdigit() and started.isdigit()):
            continue
        with contextlib.suppress(psutil.Error):
            if counters_directory(root, psutil.Process(int(pid))).name == run.name:
                continue
        if not any(_held(lock) for lock in run.glob("slot-*.lock")):
            shutil.rmtree(run, ignore_errors=True)


def shared_counters(settings: Settings) -> SharedCounters | None:
    """This worker's shared counters under ``opsloop server --workers N``; ``None`` with one worker (its
    counters stay in its process, as fast as ever) or where there are no file locks (then each worker
    answers with its own counters, as before)."""
    parent = multiprocessing.parent_process()  # uvicorn's supervisor spawns the workers
    if settings.server.workers <= 1 or parent is None or os.name != "posix" or parent.pid is None:
        return None
    try:
        root = counters_root(settings)
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_runs(root)
        counters = SharedCounters.claim(counters_directory(root, psutil.Process(parent.pid)),
                                        settings.server.workers + 1)
    except (OSError, psutil.Error) as exc:
        log.warning("deployment counters are not shared between workers (%s): each answers with its own", exc)
        return None
    if counters is None:
        log.warning("every deployment counter slot is taken: this worker (pid %d) answers with its own",
                    os.getpid())
    return counters


def _tracker(request: Request) -> DeploymentTracker:
    return request.app.state.deployments


@router.get("")
async def list_deployments(request: Request) -> Response:
    tracker = _tracker(request)
    tracks = sorted(tracker.refresh().values(), key=lambda t: t.uri)
    return json_response({"deployments": [tracker.summary(t) for t in tracks], "sample_seconds": SAMPLE_SECONDS})


@router.get("/{name}/{ref}")
async def get_deployment(request: Request, name: str, ref: str) -> Response:
    tracker = _tracker(request)
    uri = model_uri_for(name, ref)
    track = tracker.refresh().get(uri)
    if track is None:
        raise NotFoundError(f"no deployment {uri}: nothing was scored at /serving/{name}/{ref.lstrip('@')}/invocations "
                            "since the server started", field="ref")
    return json_response(tracker.detail(track))


def _find_scoring(app: FastAPI) -> Callable[[], RegistryScoringApp | None]:
    def find() -> RegistryScoringApp | None:
        for route in app.routes:
            if isinstance(route, Mount) and isinstance(route.app, RegistryScoringApp):
                return route.app
        return None
    return find


def register(app: FastAPI, settings: Settings) -> None:
    find = _find_scoring(app)
    counters = shared_counters(settings)

    def share() -> None:  # models loaded from now on count into the shared tables
        scoring = find()
        if counters is not None and scoring is not None:
            scoring.metrics_for = counters.metrics_for

    share()  # the scoring app is mounted first (``extensions._AREAS``); the lifespan checks again
    tracker = DeploymentTracker(find, counters)
    app.state.deployments = tracker
    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            share()
            task = asyncio.create_task(tracker.run(), name="opsloop-deployments-sampler")
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
