"""Which server process runs the AIOps pipeline: one leader per data dir, or per PostgreSQL database.

``opsloop server --workers N`` starts N processes with the same app. The correlator's groups, the
flapping holds and the anomaly detectors live in memory, so they must see every alert, every sample
and every merge: one process, the *leader*, builds the pipeline and runs its background work
(notifications, the correlation tick, Prometheus pulls, runbook runs). It also serves the app on a Unix
socket (``socket_path``), and the other processes, the *followers*, hand it every AIOps request
(``opsloop.server.aiops.forwarding``).

- **SQLite** (one host): the leader is whoever holds an exclusive ``flock`` on
  ``<data_dir>/aiops-leader.lock`` (a ``ScheduleLock``, as for the monitoring schedule; the file names
  the holder's process id); the kernel drops it when that process exits, even on SIGKILL. Followers
  reach the leader at its socket.
- **PostgreSQL** (any number of servers, on any hosts, sharing the database): the leader is whoever
  holds the advisory lock ``LEADER_LOCK_KEY`` (an ``AdvisoryScheduleLock``: a session-level lock on a
  connection of its own, which PostgreSQL drops when that session ends, a crash or a lost host
  included). The leader writes where it is reached into the named document ``aiops.leader`` (host,
  process, socket, and its ``server.advertise_url``); a follower on the leader's host uses the socket,
  one on another host the URL (a request that arrives there on a follower of the leader's host goes on
  over the socket: one more hop at most). The leader checks its session every second and steps down
  when it has lost it, so two processes never run the pipeline for long at once.

Followers ask for the lock about once a second, and the first to get it takes over: it rebuilds the
pipeline from the store (``Pipeline.load``) and opens the socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket as sockets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from opsloop.errors import StorageError
from opsloop.mlops.monitoring.schedule_lock import AdvisoryScheduleLock, ScheduleLeadership, ScheduleLock
from opsloop.server.aiops.forwarding import FORWARDED_HEADER, LEADER_URL, VIA_HEADER, is_url, leader_client

__all__ = ["LEADER_LOCK_KEY", "LEADER_RECORD", "LOCK_FILE", "SOCKET_FILE", "Duty", "Leadership", "socket_path"]

log = logging.getLogger("opsloop.aiops")

LOCK_FILE = "aiops-leader.lock"
SOCKET_FILE = "aiops-leader.sock"
POLL_S = 1.0  # how often a follower asks for the lock
_SUN_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path, less its terminating NUL)
LEADER_LOCK_KEY = 74203  # PostgreSQL advisory lock of the AIOps leader (74201 migrations, 74202 monitoring)
LEADER_RECORD = "aiops.leader"  # the named document saying where the leader of a shared database is

Duty = Callable[[FastAPI], AbstractAsyncContextManager[Any]]
"""Work only the leader does, for as long as it leads (entered in order, left in reverse)."""


def socket_path(data_dir: str | Path) -> str:
    """Where the leader of ``data_dir`` listens: in the data dir, or (a path too long for a Unix
    socket) in the temp dir under a name derived from the data dir."""
    folder = Path(data_dir).resolve()
    path = folder / SOCKET_FILE
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        return str(path)
    digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:20]
    return os.path.join(tempfile.gettempdir(), f"opsloop-aiops-{digest}.sock")


class Leadership:
    """This process's part in the AIOps pipeline: leading it, or following the process that does.

    Args:
        app: the app the leader serves on its socket too.
        data_dir: the data dir whose leader this process may become.
        duties: what the leader runs (the pipeline first); entered on taking the lead, left at ``stop``.
    """

    def __init__(self, app: FastAPI, data_dir: str | Path, duties: Sequence[Duty], *,
                 advertise_url: str | None = None) -> None:
        self.app = app
        try:  # the leader's socket lives there; with every store a URL, nothing else has made the folder
            Path(data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data folder {str(data_dir)!r}: {exc.strerror or exc}",
                               field="storage.data_dir") from None
        # the monitoring schedule's kind of lock: where file locks are not available, every process
        # leads (on PostgreSQL ``start`` takes the database's advisory lock instead)
        self.lock: ScheduleLeadership = ScheduleLock(Path(data_dir) / LOCK_FILE, duty="the AIOps pipeline")
        self.socket = socket_path(data_dir)
        self.advertise_url = advertise_url
        self.shared = False  # on PostgreSQL: the leader may be a server on another host
        self.following = False  # another process leads: this one hands it the AIOps requests
        self.client: httpx.AsyncClient | None = None
        self.route: str | None = None  # where ``client`` reaches the leader: its socket path or its URL
        self.unreachable = "this server process does not lead the AIOps pipeline"  # why no client, if none
        self._duties = list(duties)
        self._stack: AsyncExitStack | None = None
        self._stop = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._stack is not None

    async def start(self) -> None:
        """Lead if no one does (a failure to build the pipeline then fails the start), else follow."""
        self._stop = asyncio.Event()
        runtime = getattr(self.app.state, "runtime", None)
        if runtime is not None and runtime.db.is_postgres:
            self.shared = True
            self.lock = AdvisoryScheduleLock(runtime.db.engine, LEADER_LOCK_KEY, duty="the AIOps pipeline")
        elif isinstance(self.lock, ScheduleLock):
            with suppress(OSError):  # on S3 nothing else may have made the data dir
                self.lock.path.parent.mkdir(parents=True, exist_ok=True)
        if await asyncio.to_thread(self.lock.acquire):
            await self._lead()
            if self.shared:
                self._watch = asyncio.create_task(self._keep(), name="aiops-leader-keep")
            return
        await self._become_follower()

    async def _become_follower(self) -> None:
        self.following = True
        await self._find_leader()
        log.info("process %d hands AIOps requests to the leader at %s", os.getpid(), self.route or "(none yet)")
        self._watch = asyncio.create_task(self._follow(), name="aiops-leader-watch")

    async def _find_leader(self) -> None:
        """Point ``client`` at the leader: its socket (one data dir, or the leader's host), else the URL it
        advertises; none (with the reason in ``unreachable``) while no leader is known or reachable."""
        if not self.shared:
            route: str | None = self.socket
        else:
            try:
                record = await asyncio.to_thread(self.app.state.runtime.aiops.ops.get_config, LEADER_RECORD)
            except Exception as exc:  # noqa: BLE001 - the database is away: keep the last route
                log.debug("cannot read where the AIOps leader is: %r", exc)
                return
            route, self.unreachable = _route(record)
        if route == self.route:
            return
        old, self.client, self.route = self.client, None, route
        if old is not None:
            await old.aclose()
        if route is not None:
            self.client = leader_client(route)

    async def stop(self) -> None:
        """Stop leading or following: the leader's duties end (in reverse) and its lock is let go."""
        self._stop.set()
        if self._watch is not None:
            with suppress(asyncio.CancelledError):
                await self._watch  # a takeover under way finishes first, then is undone below
            self._watch = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        self.following = False
        self.lock.release()
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    async def _follow(self) -> None:
        while not self._stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=POLL_S)
            if self._stop.is_set():
                continue
            if not await asyncio.to_thread(self.lock.acquire):
                await self._find_leader()  # the leader may have changed (or moved host)
                continue
            log.warning("process %d takes over the AIOps pipeline (the leader is gone)", os.getpid())
            try:
                await self._lead()
            except Exception:  # noqa: BLE001 - logged; another process (or this one, next round) tries again
                log.exception("taking over the AIOps pipeline failed")
                continue
            if self.shared:
                await self._keep()
            return

    async def _keep(self) -> None:
        """On a shared database: check the lock's session every ``POLL_S``; on losing it (the connection
        dropped and another process took the lock meanwhile), stop leading and follow."""
        while not self._stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=POLL_S)
            if self._stop.is_set() or await asyncio.to_thread(self.lock.acquire):
                continue
            log.error("process %d lost the AIOps leadership (its database session ended): it follows now",
                      os.getpid())
            stack, self._stack = self._stack, None
            if stack is not None:
                try:
                    await stack.aclose()
                except Exception:  # noqa: BLE001 - logged: the new leader rebuilds from the store
                    log.exception("stopping the AIOps pipeline after losing the lead failed")
            self.following = True
            await self._find_leader()
            await self._follow()
            return

    async def _lead(self) -> None:
        stack = AsyncExitStack()
        try:
            for duty in self._duties:
                await stack.enter_async_context(duty(self.app))
            self.following = False  # the pipeline is up: this process answers its AIOps requests itself
            await stack.enter_async_context(_serving(self.app, self.socket))
        except BaseException:
            await stack.aclose()
            self.lock.release()
            raise
        self._stack = stack
        if self.client is not None:  # it followed before
            client, self.client, self.route = self.client, None, None
            await client.aclose()
        if self.shared:
            record = {"host": sockets.gethostname(), "pid": os.getpid(), "socket": self.socket,
                      "url": self.advertise_url, "since": time.time()}
            try:
                await asyncio.to_thread(self.app.state.runtime.aiops.ops.set_config, LEADER_RECORD, record)
            except Exception:  # noqa: BLE001 - followers on other hosts cannot reach it until the next try
                log.exception("cannot record where the AIOps leader is")
        log.info("process %d leads the AIOps pipeline (socket %s, url %s)", os.getpid(), self.socket,
                 self.advertise_url if self.shared else "-")

    def ingest_events(self, body: bytes) -> None:
        """Ingest an events-API JSON body (``POST /api/opsloop/v1/events``) from inside this process:
        into the pipeline when this process leads, else posted to the leader (a few tries while a
        takeover is under way). Called from a worker thread."""
        pipeline = getattr(self.app.state, "aiops", None)
        if not self.following and pipeline is not None:
            from opsloop.aiops.ingestion.events import decode_events
            from opsloop.aiops.ingestion.normalise import now

            decoded = decode_events(body, pipeline.limits, now())
            if decoded.rejected:
                log.warning("the AIOps pipeline refused events: %s", decoded.summary())
            pipeline.ingest(decoded)
            return
        self._post_events(body)

    def _post_events(self, body: bytes) -> None:
        headers = {"content-type": "application/json", "x-opsloop-sender": "opsloop", FORWARDED_HEADER: "opsloop"}
        for attempt in range(5):
            if attempt:
                time.sleep(POLL_S)
            route = self.route
            if route is None:
                continue  # no leader known yet: one is taking over
            remote = is_url(route)
            transport = httpx.HTTPTransport() if remote else httpx.HTTPTransport(uds=route)
            with httpx.Client(transport=transport, base_url=route if remote else LEADER_URL, trust_env=False,
                              timeout=60) as client:
                try:
                    answer = client.post("/api/opsloop/v1/events", content=body,
                                         headers=headers | ({VIA_HEADER: "url"} if remote else {}))
                except httpx.TransportError:
                    continue  # the leader is gone: one is taking over
            if answer.status_code in (429, 503):  # over the sender's allowance, or a takeover under way
                continue
            if answer.status_code >= 400:
                log.warning("the AIOps leader refused events (%d): %s", answer.status_code, answer.text[:500])
            return
        raise ConnectionError(f"no AIOps leader answered at {self.route or self.socket}")


@asynccontextmanager
async def _serving(app: FastAPI, path: str) -> AsyncIterator[None]:
    """The app on the Unix socket ``path``, without its lifespan (this process already runs it) and
    without signal handlers (the process's own server stops this one through the lifespan)."""
    import uvicorn

    config = uvicorn.Config(app, uds=path, lifespan="off", log_config=None, access_log=False,
                            proxy_headers=False, timeout_graceful_shutdown=5)
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    try:
        await server.startup()
        os.chmod(path, 0o600)  # the server's own user only
    except OSError as exc:  # the leader still answers what it receives; the followers answer 503
        log.error("the AIOps leader cannot listen on %s: %s", path, exc)
        yield
        return
    try:
        yield
    finally:
        await server.shutdown()
        with suppress(FileNotFoundError):
            os.unlink(path)


def _route(record: Any) -> tuple[str | None, str]:
    """Where a follower reaches the leader a ``LEADER_RECORD`` describes (its socket on this host, else its
    URL), and why not when it cannot."""
    if not isinstance(record, dict) or not record.get("pid"):
        return None, "no AIOps leader is answering (one is taking over); retry"
    here = record.get("host") == sockets.gethostname()
    if here and isinstance(record.get("socket"), str) and os.path.exists(record["socket"]):
        return record["socket"], ""
    if isinstance(record.get("url"), str) and record["url"]:
        return record["url"], ""
    return None, (f"the AIOps pipeline is led by process {record.get('pid')} on host {record.get('host')!r}, "
                  "which advertises no URL: set server.advertise_url (--advertise-url) on every server "
                  "that shares this database")
