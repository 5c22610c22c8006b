"""The outbox does not grow for ever: delivered notifications go after their retention, but for the last one
of each target and incident (which targets heard of an incident, which dead letters are superseded); dead
letters and pending rows stay. An incident's notifications are found by its index, not by a scan."""

from __future__ import annotations

import asyncio

import pytest

from opsloop.aiops.incidents.notifications import DELIVERED_RETENTION_S, Dispatcher, Router
from opsloop.storage.sql import open_database
from opsloop.storage.sql.incidents import SqlOpsStore

T0 = 1_800_000_000.0
DAY = 86400.0


def _row(ops: SqlOpsStore, target: str, incident_id: int | None, event: str, state: str, at: float) -> int:
    with ops.db.write() as conn:
        ops.enqueue(conn, [{"target": target, "incident_id": incident_id, "event": event, "created_at": at,
                            "payload": {"event": event}}])
    row_id = ops.notifications(limit=1)[0]["id"]
    if state != "pending":
        ops.mark(row_id, {"state": state, "delivered_at": at if state == "delivered" else None})
    return row_id


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_delivered_rows_past_retention_go_but_the_last_of_each_target_and_incident(backend, tmp_path,  # noqa: ANN001
                                                                                    request) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'o.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    ops = SqlOpsStore(db)
    try:
        rows = {
            "a-opened": _row(ops, "a", 1, "opened", "delivered", T0),
            "a-acked": _row(ops, "a", 1, "acknowledged", "delivered", T0 + 10),
            "a-resolved": _row(ops, "a", 1, "resolved", "delivered", T0 + 20),  # a's last of incident 1
            "b-opened": _row(ops, "b", 1, "opened", "dead", T0),  # a dead letter: never pruned
            "b-resolved": _row(ops, "b", 1, "resolved", "delivered", T0 + 20),
            "a-recent": _row(ops, "a", 2, "opened", "delivered", T0 + 8 * DAY - 60),
            "no-incident": _row(ops, "a", None, "opened", "delivered", T0),
            "pending": _row(ops, "c", 3, "opened", "pending", T0),
        }
        now = T0 + 8 * DAY
        dispatcher = Dispatcher(ops, Router(), clock=lambda: now, delivered_retention_s=7 * DAY)

        async def one_pass() -> None:  # the dispatcher's own loop prunes (then it is stopped)
            stop = asyncio.Event()
            task = asyncio.create_task(dispatcher.run(stop, idle_s=0.01))
            while len(ops.notifications()) == len(rows):
                await asyncio.sleep(0.01)
            stop.set()
            await task

        asyncio.run(asyncio.wait_for(one_pass(), 30))
        left = {r["id"] for r in ops.notifications()}
        assert left == {rows[k] for k in ("a-resolved", "b-opened", "b-resolved", "a-recent", "pending")}
        with db.read() as conn:
            assert Router().told(conn, 1) == {"a", "b"}  # both still hear incident 1's next events
        assert ops.replay(None, now) == (0, 1)  # b's dead 'opened' is still superseded by its 'resolved'
        assert dispatcher.prune() == 0
    finally:
        db.dispose()
    assert DELIVERED_RETENTION_S > 0


def test_an_incidents_notifications_are_found_by_its_index(tmp_path) -> None:  # noqa: ANN001
    db = open_database(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        raw = db.engine.raw_connection()
        try:
            plan = " ".join(str(r[-1]) for r in raw.cursor().execute(
                "EXPLAIN QUERY PLAN SELECT DISTINCT target FROM aiops_notifications WHERE incident_id = 1"))
        finally:
            raw.close()
        assert "ix_aiops_notifications_incident" in plan, plan
    finally:
        db.dispose()
