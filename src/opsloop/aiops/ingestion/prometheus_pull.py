"""Prometheus as a metrics source: ``query_range`` for configured PromQL queries, on a schedule.

Queries are documents stored under the ``prometheus_queries`` config key::

    {"name": "node_load", "url": "http://127.0.0.1:9090", "query": "node_load1",
     "interval_s": 30, "step_s": 15, "lookback_s": 300,
     "headers": {"Authorization": "Bearer …"}, "basic_auth": {"username": "…", "password": "…"}}

``headers`` and ``basic_auth`` (both optional) reach a Prometheus behind authentication (its
``--web.config.file``, or a proxy in front of it); their values are secrets (masked when read).

Every ``interval_s`` the scheduler asks ``/api/v1/query_range`` for the points since the last pull
(``lookback_s`` on the first), turns the matrix into ``MetricPoint``s (a series without ``__name__``
gets the query's name) and hands them to the pipeline: the series are stored (latest value per
series) and fed to the metric detectors.

Where each query got to (its newest point) is saved in the named document ``PROGRESS`` after each
pull that brought points, so a restarted server, or a new AIOps leader, resumes there: the samples
Prometheus kept while no server pulled are pulled too (at most ``MAX_POINTS`` steps back), and a
sample pulled twice (the server stopped between storing and saving) is stored once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as _time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from opsloop.aiops.ingestion.normalise import Decoded, MetricPoint
from opsloop.errors import InvalidInputError

__all__ = ["QUERY_KEYS", "PullQuery", "PullScheduler", "decode_matrix", "pull_once"]

log = logging.getLogger("opsloop.aiops.prometheus")


MAX_POINTS = 11_000  # Prometheus refuses a query_range of more points per series ("exceeded maximum resolution")
PROGRESS = "prometheus_pull.progress"  # named document: each query's newest pulled point, by query name
QUERY_KEYS = frozenset({"name", "url", "query", "interval_s", "step_s", "lookback_s", "headers", "basic_auth"})


@dataclass(frozen=True)
class PullQuery:
    name: str
    url: str
    query: str
    interval_s: float = 30.0
    step_s: float = 15.0
    lookback_s: float = 300.0
    headers: dict[str, str] = field(default_factory=dict, compare=False)
    basic_auth: tuple[str, str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Any) -> PullQuery:
        if not isinstance(doc, dict):
            raise InvalidInputError("a Prometheus query must be an object", field="prometheus_queries")
        for key in ("name", "url", "query"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                raise InvalidInputError(f"a Prometheus query needs '{key}'", field=key)
        if not doc["url"].startswith(("http://", "https://")):
            raise InvalidInputError("'url' must be an http(s) URL of a Prometheus server", field="url")
        try:
            q = cls(doc["name"], doc["url"].rstrip("/"), doc["query"], float(doc.get("interval_s", 30)),
                    float(doc.get("step_s", 15)), float(doc.get("lookback_s", 300)))
        except (TypeError, ValueError):
            raise InvalidInputError("interval_s, step_s and lookback_s must be numbers", field="interval_s") from None
        if q.interval_s < 1 or q.step_s < 0.001 or q.lookback_s < q.step_s:
            raise InvalidInputError("need interval_s >= 1, step_s > 0 and lookback_s >= step_s", field="interval_s")
        headers = doc.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in headers.items()):
            raise InvalidInputError("'headers' must map header names to strings", field="headers")
        return replace(q, headers=dict(headers), basic_auth=_basic_auth(doc.get("basic_auth")))


def _basic_auth(doc: Any) -> tuple[str, str] | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("username"), str) or not isinstance(
            doc.get("password"), str) or not doc["username"]:
        raise InvalidInputError("'basic_auth' must be {\"username\": …, \"password\": …}", field="basic_auth")
    return doc["username"], doc["password"]


def decode_matrix(payload: Any, default_name: str) -> list[MetricPoint]:
    """``MetricPoint``s from a ``query_range`` answer (``resultType`` matrix or vector)."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        err = payload.get("error") if isinstance(payload, dict) else None
        raise InvalidInputError(f"Prometheus answered an error: {err or payload!r}"[:300], field="query")
    out: list[MetricPoint] = []
    try:
        for series in (payload.get("data") or {}).get("result") or []:
            labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
            labels.setdefault("__name__", default_name)
            values = series.get("values") or ([series["value"]] if series.get("value") else [])
            for t, v in values:
                value = float(v)
                if not math.isnan(value):
                    out.append(MetricPoint(labels, float(t), value))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # not Prometheus' shape: the query's error
        raise InvalidInputError(f"the answer is not a Prometheus query_range result ({type(exc).__name__}: "
                                f"{exc})"[:300], field="url") from None
    return out


async def pull_once(client: httpx.AsyncClient, q: PullQuery, start: float, end: float) -> list[MetricPoint]:
    resp = await client.get(f"{q.url}/api/v1/query_range", headers=q.headers, auth=q.basic_auth or httpx.USE_CLIENT_DEFAULT,
                            params={"query": q.query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": q.step_s})
    if resp.status_code in (401, 403):
        raise InvalidInputError(f"Prometheus refused the credentials (HTTP {resp.status_code})", field="basic_auth")
    try:
        payload = resp.json()
    except ValueError:
        raise InvalidInputError(f"Prometheus answered HTTP {resp.status_code} without JSON", field="url") from None
    return decode_matrix(payload, q.name)


def _why(exc: Exception) -> str:
    """What a failed pull says in the query's status: httpx's timeouts say nothing (``str`` is ``""``),
    which left a slow Prometheus's query with an empty error, as if it pulled fine."""
    if isinstance(exc, InvalidInputError):
        return exc.message
    if isinstance(exc, httpx.TimeoutException):
        return f"Prometheus did not answer in time ({type(exc).__name__}){': ' + str(exc) if str(exc) else ''}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class PullScheduler:
    """Runs the configured queries on their intervals until stopped; re-reads the config each round."""

    def __init__(self, pipeline: Any, *, clock: Any = _time.time, poll_s: float = 1.0) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.poll_s = poll_s
        self.last_end: dict[str, float] = {}
        self.next_run: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.pulled: dict[str, int] = {}
        self._resumed = False  # ``last_end`` read back from ``PROGRESS`` (once, at the first round)

    def queries(self) -> list[PullQuery]:
        docs = self.pipeline.stores.ops.get_config("prometheus_queries", []) or []
        out, names = [], set()
        for doc in docs:
            name = str(doc.get("name") if isinstance(doc, dict) else doc)
            names.add(name)
            try:
                out.append(PullQuery.from_dict(doc))
            except InvalidInputError as exc:
                self.errors[name] = exc.message
        for gone in [n for n in list(self.errors) if n not in names]:  # queries no longer configured
            self.errors.pop(gone, None)
        return out

    def status(self) -> list[dict[str, Any]]:
        """Each configured query with what its pulls did: points so far, last point, next pull, last error."""
        queries = self.queries()
        names = {q.name for q in queries}
        # copies (atomic under the GIL): the pulls update these maps on the event loop meanwhile
        pulled, last_end, next_run, errors = dict(self.pulled), dict(self.last_end), dict(self.next_run), dict(
            self.errors)
        out = [{"name": q.name, "url": q.url, "query": q.query, "pulled": pulled.get(q.name, 0),
                "last_point_at": last_end.get(q.name), "next_pull_at": next_run.get(q.name),
                "error": errors.get(q.name)} for q in queries]
        out += [{"name": name, "error": error} for name, error in errors.items() if name not in names]
        return out

    def _resume(self) -> None:
        """Take up where the last pulls of an earlier process got to."""
        saved = self.pipeline.stores.ops.get_config(PROGRESS, {})
        if isinstance(saved, dict):
            for name, end in saved.items():
                if isinstance(end, int | float) and not isinstance(end, bool) and math.isfinite(end):
                    self.last_end.setdefault(str(name), float(end))
        self._resumed = True

    def _keep(self, points: list[MetricPoint], names: set[str]) -> None:
        """Hand ``points`` to the pipeline, then save where the configured queries got to."""
        self.pipeline.ingest(Decoded(points=points, items=len(points), source="prometheus"))
        self.pipeline.stores.ops.set_config(PROGRESS, {n: t for n, t in self.last_end.items() if n in names})

    async def run_once(self, client: httpx.AsyncClient) -> int:
        now = self.clock()
        total = 0
        if not self._resumed:
            await asyncio.to_thread(self._resume)
        queries = await asyncio.to_thread(self.queries)
        names = {q.name for q in queries}
        for q in queries:
            if self.next_run.get(q.name, 0.0) > now:
                continue
            self.next_run[q.name] = now + q.interval_s
            start = self.last_end.get(q.name, now - q.lookback_s)
            if self.last_end.get(q.name) is not None:
                start += q.step_s / 1000.0
            # far behind (the query matched nothing for long, or Prometheus was down): the latest points it
            # answers, not a range it refuses at every pull from then on
            start = max(start, now - q.step_s * (MAX_POINTS - 1))
            try:
                points = await pull_once(client, q, start, now)
            except (httpx.HTTPError, InvalidInputError) as exc:
                self.errors[q.name] = _why(exc)
                log.warning("pull %s from %s failed: %s", q.name, q.url, self.errors[q.name])
                continue
            self.errors.pop(q.name, None)
            if points:
                self.last_end[q.name] = max(p.time for p in points)
                await asyncio.to_thread(self._keep, points, names)
            self.pulled[q.name] = self.pulled.get(q.name, 0) + len(points)
            total += len(points)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            while not stop.is_set():
                try:
                    await self.run_once(client)
                except Exception:  # noqa: BLE001 - keep pulling
                    log.exception("prometheus pull failed")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
                except TimeoutError:
                    pass
