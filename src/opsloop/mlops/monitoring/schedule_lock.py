"""Which process runs the monitoring schedule: one per database.

``opsloop server --workers N`` starts N processes with the same app, and several servers may share one
PostgreSQL database; each would run its own drift and performance checks and emit every signal once
per process. The one that holds the schedule's lock runs them; the others ask again at each round, so
when the holder exits (the lock goes with it, even on a crash) another one takes over.

- PostgreSQL (``AdvisoryScheduleLock``): a session-level advisory lock (``pg_try_advisory_lock``) on a
  connection of its own, held from the first round that gets it until ``release`` or the end of the
  session (the process exits, or its connection is lost: the next round notices and asks again).
  Every server and worker on the database competes for it, whatever host it runs on.
- SQLite (``ScheduleLock``): an exclusive ``flock`` on a file in the data dir, which every worker of the
  server sharing that SQLite file sees. Where file locks are not available (Windows) or the file cannot
  be opened, every worker runs the schedule, as before.

``schedule_lock_for`` picks the one a database needs.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from opsloop.storage.sql.engine import Database

__all__ = ["SCHEDULE_LOCK_KEY", "AdvisoryScheduleLock", "ScheduleLeadership", "ScheduleLock", "schedule_lock_for"]

log = logging.getLogger("opsloop.monitoring")

SCHEDULE_LOCK_KEY = 74202  # the schedule's PostgreSQL advisory lock (74201 serialises migrations)
# a leader whose host vanishes without closing its connection lets go within about a minute
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class ScheduleLeadership(Protocol):
    """A lock the schedule's leader holds: ``acquire`` at each round says whether this process runs it."""

    @property
    def held(self) -> bool: ...

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


def schedule_lock_for(db: Database, path: str | Path) -> ScheduleLeadership:
    """The schedule's lock for a server on ``db``: an advisory lock on PostgreSQL, else the file ``path``."""
    return AdvisoryScheduleLock(db.engine) if db.is_postgres else ScheduleLock(path)


class ScheduleLock:
    """An exclusive, non-blocking lock on ``path``, held from the first ``acquire`` that gets it until ``release``."""

    def __init__(self, path: str | Path, duty: str = "the monitoring schedule") -> None:
        self.path = Path(path)
        self.duty = duty  # what the holder runs, for the log
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Whether this process runs the schedule: it holds the lock now (or no lock can be taken here)."""
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no flock on this platform: every worker checks, as before
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by runbook programs
        except OSError as exc:
            log.warning("cannot open %s (%s): this worker runs %s too", self.path, exc, self.duty)
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another worker holds it
            os.close(fd)
            return False
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for whoever looks
        log.info("worker %d runs %s (lock %s)", os.getpid(), self.duty, self.path)
        return True

    def release(self) -> None:
        """Let another worker take the schedule (closing the file drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class AdvisoryScheduleLock:
    """PostgreSQL's session-level advisory lock ``key``, on a connection of its own (outside the pool, so
    closing it ends the session and the lock with it; in autocommit, so it idles in no transaction).

    ``pg_locks`` shows the holder; its connection's ``application_name`` names the host and process.
    When the database cannot be reached, ``acquire`` says no: the checks could not run either.
    """

    def __init__(self, engine: sa.Engine, key: int = SCHEDULE_LOCK_KEY, duty: str = "the monitoring schedule") -> None:
        self.key = key
        self.duty = duty  # what the holder runs, for the log
        name = f"opsloop {duty.removeprefix('the ')} {socket.gethostname()}:{os.getpid()}"[:63]
        self._engine = sa.create_engine(engine.url, poolclass=NullPool,
                                        connect_args={**_KEEPALIVES, "application_name": name})
        self._conn: sa.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        """Whether this process runs the schedule: its session holds the lock (taken now if it is free)."""
        if self._conn is not None:
            if self._alive(self._conn):
                return True
            log.warning("the database session holding the lock of %s ended; asking for it again", self.duty)
            self._close()
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.warning("cannot reach the database for the lock of %s: %s", self.duty, exc)
            return False
        try:
            got = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(self.key))).scalar())
        except SQLAlchemyError as exc:
            log.warning("cannot take the lock of %s: %s", self.duty, exc)
            got = False
        if not got:  # another server or worker on this database runs the schedule
            conn.close()
            return False
        self._conn = conn
        log.info("process %d runs %s (PostgreSQL advisory lock %d)", os.getpid(), self.duty, self.key)
        return True

    def release(self) -> None:
        """Let another process take the schedule now (unlocked before the session ends, which is
        asynchronous on the server's side)."""
        if self._conn is not None:
            try:
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock_all()))
            except SQLAlchemyError as exc:  # a session already gone: the lock went with it
                log.debug("unlocking the monitoring schedule's lock: %s", exc)
            self._close()

    @staticmethod
    def _alive(conn: sa.Connection) -> bool:
        try:
            conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        except SQLAlchemyError as exc:  # a session already gone: the lock went with it
            log.debug("closing the monitoring schedule's lock connection: %s", exc)

