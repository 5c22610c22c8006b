"""opsloop's AIOps HTTP API: ingestion endpoints, incidents, signals, topology, silences, notifications.

``register`` includes one FastAPI router per resource (so each endpoint is in the OpenAPI docs at
``/docs``) and wraps the app's lifespan to take part in the AIOps leadership of the data dir
(``leader.Leadership``; on PostgreSQL, of the database): the one process that leads builds the ``Pipeline`` on the runtime's stores and
runs the background work (notification delivery, Prometheus pulls, the correlation tick, runbook runs);
every other process hands it the AIOps requests (``forwarding.ForwardToLeader``). All of it stops when
the app stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from opsloop.settings import Settings

__all__ = ["register"]

log = logging.getLogger("opsloop.aiops")

TICK_S = 5.0


def register(app: FastAPI, settings: Settings) -> None:
    from opsloop.server.aiops import (
        alertmanager_v2,
        incidents,
        ingest,
        metrics,
        notifications,
        runbooks,
        signals,
        silences,
    )
    from opsloop.server.aiops import topology as topology_api
    from opsloop.server.aiops.forwarding import ForwardToLeader
    from opsloop.server.aiops.leader import Leadership

    modules = (ingest, alertmanager_v2, incidents, signals, metrics, topology_api, silences, notifications, runbooks)
    routers = [m.router for m in modules]
    for router in routers:
        app.include_router(router)
    leadership = Leadership(app, settings.storage.data_dir,
                            [partial(_running, settings=settings), partial(runbooks.running, settings=settings)],
                            advertise_url=settings.server.reachable_url())
    app.add_middleware(ForwardToLeader, leadership=leadership, routes=[r for router in routers for r in router.routes])
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):  # noqa: ANN202
        async with original(a) as state:
            a.state.aiops_leadership = leadership
            await leadership.start()
            try:
                yield state
            finally:
                await leadership.stop()

    app.router.lifespan_context = lifespan


@asynccontextmanager
async def _running(app: FastAPI, settings: Settings) -> AsyncIterator[Any]:
    """The pipeline and its background work, for as long as this process leads."""
    pipeline = await _start(app, settings)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(pipeline.dispatcher.run(stop), name="aiops-notifications"),
             asyncio.create_task(_ticker(pipeline, stop), name="aiops-tick"),
             asyncio.create_task(_puller(app, stop), name="aiops-prometheus-pull")]
    try:
        yield pipeline
    finally:
        stop.set()
        # a notification under way is finished and recorded as delivered: cancelled mid-request, it would be
        # sent again once its claim lapses (after a restart, the receiver would get it twice)
        await asyncio.wait(tasks[:1], timeout=pipeline.dispatcher.lease_s)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        for step in (pipeline.tick, pipeline.flush_span_counts, pipeline.checkpoint_detectors):
            try:  # each step on its own: one failing must not lose what the others save
                await asyncio.to_thread(step)
            except Exception:  # noqa: BLE001 - logged: what it held is lost, the others still run
                log.exception("aiops shutdown step %s failed", step.__name__)


async def _start(app: FastAPI, settings: Settings):  # noqa: ANN202
    from opsloop.aiops.pipeline import Pipeline

    pipeline = Pipeline.from_settings(app.state.runtime.aiops, settings)
    pipeline.template_store = app.state.runtime.log_templates
    await asyncio.to_thread(pipeline.load)
    if settings.topology.file:
        await asyncio.to_thread(_declare_from_file, pipeline, settings.topology.file)
    app.state.aiops = pipeline
    return pipeline


def _declare_from_file(pipeline: Any, path: str) -> None:
    """Replace the declared topology with the file's (``topology.file``) when it differs. A file that
    cannot be read is logged and the stored topology kept: alerts must still be received."""
    import yaml

    from opsloop.aiops.correlation.topology import parse_topology, self_edges

    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        edges, looped = parse_topology(doc), self_edges(doc)
    except (OSError, ValueError, yaml.YAMLError) as exc:  # unreadable, not YAML, not a topology
        log.error("topology.file %s not used, the declared topology stays: %s", path, exc)
        return
    if set(edges) != set(pipeline.engine.topology.declared()):
        pipeline.set_topology(edges, actor=f"topology.file:{path}"[:200])
    log.info("declared topology from %s: %d dependencies", path, len(edges))
    if looped:
        log.warning("topology.file %s: left out %d service(s) declared as depending on themselves: %s",
                    path, len(looped), ", ".join(looped[:10]))


async def _ticker(pipeline, stop: asyncio.Event) -> None:  # noqa: ANN001
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_S)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(pipeline.tick)
        except Exception:  # noqa: BLE001 - keep ticking
            log.exception("aiops tick failed")


async def _puller(app: FastAPI, stop: asyncio.Event) -> None:
    from opsloop.aiops.ingestion.prometheus_pull import PullScheduler

    scheduler = app.state.prometheus_pull = PullScheduler(app.state.aiops)
    await scheduler.run(stop)
