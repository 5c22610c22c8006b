"""The SQLite WAL is copied back by a thread of its own, not by the commit that crosses a threshold."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from opsloop.storage.sql import engine as engine_mod
from opsloop.storage.sql.engine import checkpoint_wal, open_database


def _write_rows(db, n: int) -> None:  # noqa: ANN001 - a Database
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(n):
        with db.write() as conn:
            conn.exec_driver_sql("INSERT INTO t (v) VALUES (?)", (f"row {i} " + "x" * 2000,))


def _wait(predicate, seconds: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "CHECKPOINT_INTERVAL_S", 0.1)


def test_commits_leave_the_wal_to_the_checkpoint_thread(tmp_path: Path, fast: None) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        # a commit does not checkpoint by itself: the automatic threshold is far above this
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == engine_mod._BACKSTOP_PAGES
        _write_rows(db, 50)
        assert _thread_of(db).is_alive()

        def copied_back() -> bool:
            busy, frames, done = checkpoint_wal(db.engine, "PASSIVE")
            return busy == 0 and frames == done

        assert _wait(copied_back)
        # everything committed is readable from the database file alone once the WAL is truncated
        checkpoint_wal(db.engine, "TRUNCATE")
        assert (tmp_path / "w.db-wal").stat().st_size == 0
        with sqlite3.connect(tmp_path / "w.db") as plain:
            assert plain.execute("SELECT count(*) FROM t").fetchone()[0] == 50
    finally:
        db.dispose()


def _thread_of(db) -> threading.Thread:  # noqa: ANN001 - a Database
    thread = db._checkpointer._thread
    assert thread is not None and thread.name == "opsloop-wal-checkpoint"
    return thread


def test_the_thread_ends_with_its_database(tmp_path: Path, fast: None) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'a.db'}")
    assert db._checkpointer._thread is None  # nothing committed yet: no thread
    _write_rows(db, 3)
    thread = _thread_of(db)
    assert thread.is_alive()
    db.dispose()
    assert not thread.is_alive()

    db2 = open_database(f"sqlite:///{tmp_path / 'b.db'}")
    _write_rows(db2, 3)
    thread = _thread_of(db2)
    del db2
    gc.collect()
    assert _wait(lambda: not thread.is_alive())


def test_an_in_memory_database_has_no_thread(fast: None) -> None:
    db = open_database("sqlite:///:memory:", migrate=False)
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    assert db._checkpointer is None
    db.dispose()
