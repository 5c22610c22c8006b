"""Every write of a drift reference gets a new revision, and ``replace_reference`` writes only while
the stored reference is still the revision its writer read: a reference derived from an older one
(a rebuild for a moved alias) never overwrites one set meanwhile; saves racing each other leave one
whole reference. Run on every backend."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from opsloop.mlops.monitoring import ModelMonitor, ReferenceChangedError
from opsloop.mlops.monitoring import tables as t
from opsloop.mlops.monitoring.sql import SqlMonitoringStore
from opsloop.mlops.monitoring.store import MonitoringStore


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    return monitoring_store


def _revision(store: MonitoringStore) -> str:
    profile = store.get_reference("m")
    assert profile is not None and isinstance(profile["revision"], str)
    return profile["revision"]


def test_a_replacement_is_written_only_over_the_revision_it_was_derived_from(store: MonitoringStore) -> None:
    assert not store.replace_reference("m", {"rows": 1, "features": {}}, revision=None)  # none stored
    store.save_reference("m", {"rows": 1, "features": {}})
    first = _revision(store)
    assert store.replace_reference("m", {"rows": 2, "features": {}}, revision=first)
    second = _revision(store)
    assert second != first

    assert not store.replace_reference("m", {"rows": 3, "features": {}}, revision=first)  # stale
    store.save_reference("m", {"rows": 4, "features": {}, "revision": second})  # a manual set: a new revision
    assert _revision(store) not in (first, second)
    assert not store.replace_reference("m", {"rows": 5, "features": {}}, revision=second)
    assert (store.get_reference("m") or {})["rows"] == 4


def test_a_reference_stored_before_revisions_is_replaced_by_one_derived_from_it(tmp_path: Path) -> None:
    store = SqlMonitoringStore(f"sqlite:///{tmp_path / 'monitoring.db'}")
    with store.db.write() as conn:  # as an earlier release wrote it: no revision
        conn.execute(t.references.insert().values(model="m", profile=json.dumps({"rows": 1, "features": {}}),
                                                  time=time.time()))
    assert not store.replace_reference("m", {"rows": 2, "features": {}}, revision="r1")
    assert store.replace_reference("m", {"rows": 2, "features": {}}, revision=None)
    assert (store.get_reference("m") or {})["rows"] == 2


def test_a_monitor_refuses_a_rebuild_of_a_reference_replaced_meanwhile(store: MonitoringStore) -> None:
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(pd.DataFrame({"x": range(100)}))
    read = store.get_reference("m")
    assert read is not None
    monitor.set_reference(pd.DataFrame({"x": range(50)}))  # the operator's
    with pytest.raises(ReferenceChangedError):
        monitor.set_reference(pd.DataFrame({"x": range(500)}), replacing=read)
    assert (store.get_reference("m") or {})["rows"] == 50
    monitor.set_reference(pd.DataFrame({"x": range(500)}), replacing=store.get_reference("m"))
    assert (store.get_reference("m") or {})["rows"] == 500


def _save_at_once(store: MonitoringStore, model: str, writers: int) -> None:
    start = threading.Barrier(writers)

    def save(i: int) -> None:
        start.wait(timeout=30)
        store.save_reference(model, {"rows": i, "features": {}})

    with ThreadPoolExecutor(writers) as pool:
        for done in [pool.submit(save, i) for i in range(writers)]:
            done.result()  # none fails (PostgreSQL: no unique violation between two inserts)


def test_concurrent_saves_of_a_reference_leave_one_whole_reference(store: MonitoringStore) -> None:
    writers = 8  # the SQL store's pool holds 8 connections: every writer has its own transaction at once
    for model in ("a", "b", "c", "d"):
        for _first_then_over_one in range(2):
            _save_at_once(store, model, writers)
            stored = store.get_reference(model)
            assert stored is not None and stored["rows"] in range(writers)
            assert store.replace_reference(model, {"rows": 99, "features": {}}, revision=stored["revision"])
            assert (store.get_reference(model) or {})["rows"] == 99
    assert store.reference_models() == ["a", "b", "c", "d"]
