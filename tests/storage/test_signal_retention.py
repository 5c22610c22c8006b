"""Signal retention: old log records and signals go, the evidence of open incidents and firing alerts stays."""

from __future__ import annotations

from typing import Any

import pytest

from opsloop.core.signals import Signal, SignalKind
from opsloop.storage.sql import open_database
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.signals import row_for

DAY = 86400.0
OTHERS = [k.value for k in SignalKind if k != SignalKind.LOG]
NOW = 1_800_000_000.0


def _stores(backend: str, tmp_path, request) -> AiopsStores:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'r.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    return AiopsStores(open_database(url))


def _incident(stores: AiopsStores, state: str, updated_at: float) -> int:
    with stores.db.write() as conn:
        return stores.incidents.create(conn, {
            "title": state, "state": state, "severity": 3, "service": "db", "services": ["db"], "labels": {},
            "assignee": "", "signal_count": 0, "open_signals": 0, "created_at": updated_at, "updated_at": updated_at,
            "first_signal_at": updated_at, "last_signal_at": updated_at, "resolution": "", "reasons": [], "flags": [],
        })


def _add(stores: AiopsStores, text: str, kind: str, age_days: float, *, status: str = "firing",
         incident_id: int | None = None) -> None:
    t = NOW - age_days * DAY
    sig = Signal(time=t, source="test", kind=SignalKind(kind), service="db", labels={"n": text}, text=text,
                 status=status)
    row: dict[str, Any] = row_for(sig, sig.fingerprint(), t, incident_id=incident_id)
    with stores.db.write() as conn:
        stores.signals.upsert(conn, [row])


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_prune_keeps_recent_signals_open_incidents_and_firing_alerts(backend: str, tmp_path, request) -> None:  # noqa: ANN001
    stores = _stores(backend, tmp_path, request)
    open_id = _incident(stores, "triggered", NOW - 60 * DAY)
    old_resolved = _incident(stores, "resolved", NOW - 60 * DAY)
    new_resolved = _incident(stores, "resolved", NOW - 1 * DAY)
    _add(stores, "old log", "log", 10)
    _add(stores, "new log", "log", 1)
    _add(stores, "old resolved alert", "alert", 40, status="resolved")
    _add(stores, "old firing alert", "alert", 40)
    _add(stores, "old event", "event", 40)
    _add(stores, "alert of an open incident", "alert", 40, status="resolved", incident_id=open_id)
    _add(stores, "alert of an old resolved incident", "alert", 40, status="resolved", incident_id=old_resolved)
    _add(stores, "alert of a recently resolved incident", "alert", 40, status="resolved", incident_id=new_resolved)

    def texts() -> set[str]:
        return {s["text"] for s in stores.signals.list(limit=100)}

    with stores.db.write() as conn:  # logs older than 7 days
        assert stores.signals.prune(conn, NOW - 7 * DAY, ["log"]) == 1
    assert "old log" not in texts() and "new log" in texts() and "old event" in texts()
    with stores.db.write() as conn:  # everything else older than 30 days
        assert stores.signals.prune(conn, NOW - 30 * DAY, OTHERS) == 3
    assert texts() == {"new log", "old firing alert", "alert of an open incident",
                       "alert of a recently resolved incident"}
    with stores.db.write() as conn:  # nothing more to do
        assert stores.signals.prune(conn, NOW - 30 * DAY, OTHERS) == 0


def test_prune_works_in_slices(tmp_path) -> None:  # noqa: ANN001
    stores = AiopsStores(open_database(f"sqlite:///{tmp_path / 'b.db'}"))
    for i in range(25):
        _add(stores, f"log {i}", "log", 30 + i)
    with stores.db.write() as conn:
        assert stores.signals.prune(conn, NOW - 7 * DAY, ["log"], limit=10) == 10
    left = {s["text"] for s in stores.signals.list(limit=100)}
    assert len(left) == 15
    with stores.db.write() as conn:
        assert stores.signals.prune(conn, NOW - 7 * DAY, ["log"], limit=10) == 10
        assert stores.signals.prune(conn, NOW - 7 * DAY, ["log"], limit=10) == 5
