"""Models the server scores itself (``/serving/...``): traffic, latency and errors over time.

    GET /api/opsloop/v1/deployments                 every model scored since the server started
    GET /api/opsloop/v1/deployments/{name}/{ref}    one of them, with its latency histogram and series

A deployment is one ``NAME/REF`` scored at ``/serving/{name}/{version or alias}/invocations``. Totals
and latency percentiles come from the scoring app's own counters (percentiles estimated inside the
latency histogram's buckets, as Prometheus' ``histogram_quantile`` does). Every ``SAMPLE_SECONDS`` a
sampler reads those counters into a ring of ``HISTORY`` samples per deployment, so memory stays
bounded. A model dropped from the scoring app's cache (or re-resolved to a new version) keeps its
totals here.

With ``opsloop server --workers N`` (N > 1) every worker counts into ``SharedCounters``
(``deployment_counters``): one memory-mapped ``MetricsTable`` per deployment, one row per worker slot,
in a folder of this run of the server. So every worker's answer (and ``/serving/.../metrics``) is the
sum over all workers, a deployment scored by one worker is listed by all, and a worker restarted in its
slot adds to what it had counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.routing import Mount

from opsloop.errors import NotFoundError
from opsloop.mlops.monitoring.health import RequestCounts
from opsloop.mlops.serving.metrics import (
    ERROR_KINDS,
    LATENCY_BUCKETS,
    MODEL_ERROR,
    STATUS_CLASSES,
    MetricsSnapshot,
    latency_quantile,
)
from opsloop.mlops.serving.router import RegistryScoringApp, model_uri_for, name_and_ref
from opsloop.server.deployment_counters import SharedCounters, shared_counters
from opsloop.server.wire import json_response
from opsloop.settings import Settings

__all__ = ["SAMPLE_SECONDS", "DeploymentTracker", "latency_quantile", "register"]

SAMPLE_SECONDS = 5.0
HISTORY = 720  # one hour of samples per deployment
MAX_TRACKED = 64  # deployments remembered (those no longer loaded are forgotten first)
_NS, _NK, _NL = len(STATUS_CLASSES), len(ERROR_KINDS), len(LATENCY_BUCKETS) + 1
_LAT = slice(_NS + _NK, _NS + _NK + _NL)
_CLIENT_LAT = slice(_LAT.stop, _LAT.stop + _NL)  # the 4xx answers among _LAT (left out of the health checks)

router = APIRouter(prefix="/api/opsloop/v1/deployments", tags=["deployments"])


def _vector(snap: MetricsSnapshot) -> np.ndarray:
    """status counts, error kinds, latency buckets, those of 4xx answers, latency sum: one array to add and
    subtract."""
    return np.asarray([*snap.status.values(), *snap.error_kinds.values(), *snap.latency_counts,
                       *snap.client_error_latency_counts, snap.latency_sum], dtype=float)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) * 1000.0, 3)


class _Track:
    """Counters and samples of one deployment; ``base`` holds what apps it replaced had counted."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.metrics: Any = None
        self.app: weakref.ref[Any] | None = None
        self.model: dict[str, Any] = {}
        self.base = np.zeros(_CLIENT_LAT.stop + 1)
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
                 counters: SharedCounters | None = None, *, complete: bool = True) -> None:
        self._scoring = scoring
        self._counters = counters
        self.complete = complete  # the counters read are every worker's (one worker, or shared counters)
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

    def request_counts(self) -> dict[tuple[str, str], RequestCounts]:
        """Every deployment's cumulative requests, 5xx answers and latency buckets of the requests that reached
        the model (not the 4xx answers), by ``(name, ref)`` (what the health checks judge), read now."""
        out = {}
        for uri, track in self.refresh().items():
            total = track.total
            out[name_and_ref(uri)] = RequestCounts(int(total[:_NS].sum()), int(total[STATUS_CLASSES.index("5xx")]),
                                                   tuple(int(c) for c in total[_LAT] - total[_CLIENT_LAT]),
                                                   int(total[_NS + ERROR_KINDS.index(MODEL_ERROR)]))
        return out

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
        name, ref = name_and_ref(track.uri)
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
    tracker = DeploymentTracker(find, counters, complete=settings.server.workers <= 1 or counters is not None)
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
