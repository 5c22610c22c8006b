"""Engine creation and schema migration for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from opsloop.errors import InvalidInputError, MissingDependencyError, StorageError

__all__ = ["Database", "checkpoint_wal", "open_database", "upgrade_schema"]

log = logging.getLogger("opsloop.storage")

_MIGRATIONS = Path(__file__).with_name("migrations")
_BACKSTOP_PAGES = 64_000
CHECKPOINT_INTERVAL_S = 2.0


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    cur = dbapi_conn.cursor()
    # WAL + synchronous=NORMAL: a committed transaction survives the process being killed
    # (the WAL is in the OS cache); only an OS crash can lose the last commits.
    _wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE is case-sensitive, as on PostgreSQL
    # The WAL is copied back into the database by ``_Checkpointer``'s thread, not by whichever commit
    # crosses the threshold (that commit waited for the copy and its fsync, up to ~100 ms under a busy
    # ingest). The automatic checkpoint stays as a backstop, at ~256 MB, for writes the thread does not see.
    cur.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_PAGES}")
    cur.close()


def _wal(cur: Any) -> None:
    """Put the database in WAL mode (a setting of the file: once set, every later connection finds it).
    Switching needs the file to itself, and SQLite answers "database is locked" at once, without waiting
    out the busy timeout, when processes opening a new store together switch at the same moment: retry."""
    deadline = time.monotonic() + 30.0
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.info.pop("begin_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class _Checkpointer:
    """Copies a SQLite database's WAL back into it from a thread of its own (``PASSIVE``: it never
    blocks a writer or a reader), at most every ``interval`` seconds and only after commits.

    Pages rewritten within an interval (a busy ingest's index pages) are copied once. The thread starts
    with the first commit and ends when ``stop`` is called or its ``Database`` is garbage-collected.
    """

    def __init__(self, db: Database, interval: float) -> None:
        self._db = weakref.ref(db)
        self.interval = interval
        self._dirty = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def committed(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stopped.is_set():
                    self._thread = threading.Thread(target=self._run, name="opsloop-wal-checkpoint", daemon=True)
                    self._thread.start()
        self._dirty.set()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if not self._dirty.is_set():
                continue
            self._dirty.clear()
            db = self._db()
            if db is None:
                return
            try:
                checkpoint_wal(db.engine)
            except Exception:  # noqa: BLE001 - a failed checkpoint is retried next time; the backstop remains
                log.debug("WAL checkpoint failed", exc_info=True)
            del db


def checkpoint_wal(engine: Engine, mode: str = "PASSIVE") -> tuple[int, int, int]:
    """Run ``PRAGMA wal_checkpoint(mode)``: (busy, frames in the WAL, frames copied back)."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
        conn.rollback()
    return int(row[0]), int(row[1]), int(row[2])


@dataclass
class Database:
    """An engine plus the write discipline its dialect needs.

    SQLite has one writer at a time; a process-wide lock around write transactions avoids
    busy-waiting threads, and ``BEGIN IMMEDIATE`` takes the write lock up front so a
    transaction never fails half-way on a lock upgrade.
    """

    engine: Engine
    _write_lock: threading.Lock = field(default_factory=threading.Lock)
    _checkpointer: _Checkpointer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.is_sqlite and self.engine.url.database not in (None, "", ":memory:"):
            self._checkpointer = _Checkpointer(self, CHECKPOINT_INTERVAL_S)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success, rolled back on error.

        Raises:
            StorageError: the database cannot be reached, or the connection was lost.
        """
        with self._reachable():
            if self.is_sqlite:
                with self._write_lock, self._connect() as conn:
                    conn.info["begin_immediate"] = True
                    conn.begin()
                    try:
                        yield conn
                    except BaseException:
                        conn.rollback()
                        raise
                    conn.commit()
                if self._checkpointer is not None:
                    self._checkpointer.committed()
            else:
                with self._connect() as conn, conn.begin():
                    yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (rolled back after). Raises ``StorageError`` as ``write`` does."""
        with self._reachable(), self._connect() as conn:
            yield conn
            conn.rollback()

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except DBAPIError as exc:  # no connection could be opened: the database is down or unreachable
            raise self._unavailable(exc) from exc

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """A connection lost mid-transaction (the database restarted or went away) is a ``StorageError``, which
        callers answer as "temporarily unavailable, retry"; the pool drops that connection (pre-ping replaces
        the others), so the next call works once the database is back."""
        try:
            yield
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: DBAPIError) -> StorageError:
        where = self.engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        log.warning("the database %s is unavailable: %s", where, reason)
        return StorageError(f"the database is unavailable ({where}): {reason}")

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


def _make_engine(url: str, pool_size: int) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is off (isolation_level=None); we issue BEGIN ourselves.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError.for_extra("psycopg", "postgres") from exc
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    raise InvalidInputError(
        f"unsupported database URL {url.split('://')[0]}://…; use sqlite:///path or postgresql+psycopg://…",
        field="database_url")


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe when several processes start)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn:
        # One process migrates at a time; the others wait (then find nothing to do). PostgreSQL: an advisory
        # lock. SQLite: the write lock taken up front (BEGIN IMMEDIATE waits out busy_timeout), since a
        # transaction that reads and then writes fails at once ('database is locked') when another has written.
        if engine.dialect.name == "sqlite":
            conn.info["begin_immediate"] = True
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(74201)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")


def open_database(url: str, *, pool_size: int = 8, migrate: bool = True) -> Database:
    """Open (and by default migrate) the database at ``url``."""
    engine = _make_engine(url, pool_size)
    try:
        if migrate:
            upgrade_schema(engine)
    except DBAPIError as exc:  # down, locked, or no database at all (a file that is not SQLite's)
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise StorageError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc
    return Database(engine)
