"""Deployment counters shared by the worker processes of ``opsloop server --workers N``.

Every worker counts into ``SharedCounters``: one memory-mapped ``MetricsTable`` per deployment, one row
per worker slot, in a folder of this run of the server (``counters_directory``). So every worker's
answer (and ``/serving/.../metrics``) is the sum over all workers, a deployment scored by one worker is
listed by all, and a worker restarted in its slot adds to what it had counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from opsloop.mlops.serving.metrics import MetricsTable, ServingMetrics
from opsloop.settings import Settings

__all__ = ["PENDING_SECONDS", "SharedCounters", "counters_directory", "counters_root", "shared_counters"]

log = logging.getLogger(__name__)

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
