"""One monitoring schedule per database: on PostgreSQL the leader is whoever holds a session-level
advisory lock (any number of servers, on any hosts), on SQLite the holder of the file lock in the data
dir. The leader keeps it until it lets go or its session ends; another runtime then takes over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from opsloop.mlops.monitoring.schedule_lock import (
    SCHEDULE_LOCK_KEY,
    AdvisoryScheduleLock,
    ScheduleLock,
    schedule_lock_for,
)
from opsloop.runtime import Runtime, build_runtime
from opsloop.settings import load_settings


def _runtime(tmp: Path, url: str | None) -> Runtime:
    storage = {"data_dir": str(tmp), **({"database_url": url} if url else {})}
    return build_runtime(load_settings({"storage": storage}, environ={}))


@pytest.fixture
def two_runtimes(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    first, second = _runtime(tmp_path / "a", postgres_url), _runtime(tmp_path / "b", postgres_url)
    yield first, second
    first.close()
    second.close()


def _holders(runtime: Runtime) -> list[int]:
    """Backend pids holding the schedule's advisory lock (as PostgreSQL says)."""
    q = sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key AND objsubid = 1")
    with runtime.db.read() as conn:
        return [int(p) for p in conn.execute(q, {"key": SCHEDULE_LOCK_KEY}).scalars()]


@pytest.mark.postgres
def test_two_runtimes_on_one_postgres_database_elect_one_leader_and_the_other_takes_over(
        two_runtimes: tuple[Runtime, Runtime], tmp_path: Path) -> None:
    a_rt, b_rt = two_runtimes
    a = schedule_lock_for(a_rt.db, tmp_path / "a" / "schedule.lock")
    b = schedule_lock_for(b_rt.db, tmp_path / "b" / "schedule.lock")  # other data dirs: a file lock would not do
    assert isinstance(a, AdvisoryScheduleLock) and isinstance(b, AdvisoryScheduleLock)
    assert a.acquire() and a.held
    assert a.acquire()  # held: asking again keeps it
    assert not b.acquire() and not b.held
    assert len(_holders(a_rt)) == 1

    a.release()  # the leader shuts down
    assert not a.held and _holders(a_rt) == []
    assert b.acquire() and b.held
    assert not a.acquire()
    b.release()


@pytest.mark.postgres
def test_when_the_leaders_session_dies_another_runtime_takes_over(two_runtimes: tuple[Runtime, Runtime]) -> None:
    a_rt, b_rt = two_runtimes
    a, b = AdvisoryScheduleLock(a_rt.db.engine), AdvisoryScheduleLock(b_rt.db.engine)
    assert a.acquire() and not b.acquire()
    [pid] = _holders(a_rt)
    # the leader's process or connection dies: PostgreSQL ends its session (waited for, up to 30 s)
    with b_rt.db.write() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": pid}).scalar()
    assert b.acquire()
    assert not a.acquire() and not a.held  # the old leader finds its session gone, and the lock taken
    b.release()
    assert a.acquire()  # and can lead again once it is free
    a.release()


def test_on_sqlite_the_schedule_keeps_the_file_lock_in_the_data_dir(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, None)
    try:
        lock = schedule_lock_for(runtime.db, tmp_path / "schedule.lock")
        assert isinstance(lock, ScheduleLock) and lock.acquire()
        assert not ScheduleLock(tmp_path / "schedule.lock").acquire()
        lock.release()
    finally:
        runtime.close()
