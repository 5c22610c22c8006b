"""Engine creation and schema migration for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from opsloop.errors import InvalidInputError, MissingDependencyError, StorageError

__all__ = ["Database", "open_database", "upgrade_schema"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    cur = dbapi_conn.cursor()
    # WAL + synchronous=NORMAL: a committed transaction survives the process being killed
    # (the WAL is in the OS cache); only an OS crash can lose the last commits.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE is case-sensitive, as on PostgreSQL
    # Checkpoint the WAL every ~32 MB instead of every ~4 MB: pages rewritten between checkpoints (the
    # indexes of a busy ingest) are copied back once, not again and again (bench/events: +10-15 %).
    cur.execute("PRAGMA wal_autocheckpoint=8000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.info.pop("begin_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass
class Database:
    """An engine plus the write discipline its dialect needs.

    SQLite has one writer at a time; a process-wide lock around write transactions avoids
    busy-waiting threads, and ``BEGIN IMMEDIATE`` takes the write lock up front so a
    transaction never fails half-way on a lock upgrade.
    """

    engine: Engine
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        if self.is_sqlite:
            with self._write_lock, self.engine.connect() as conn:
                conn.info["begin_immediate"] = True
                conn.begin()
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
        else:
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn
            conn.rollback()

    def dispose(self) -> None:
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
    with engine.begin() as conn:
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
    except OperationalError as exc:
        raise StorageError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: {exc}"
        ) from exc
    return Database(engine)
