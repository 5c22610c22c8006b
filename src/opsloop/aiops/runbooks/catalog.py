"""The configured runbooks, and the one way a run is requested: a ``queued`` row written in a transaction.

``RunbookCatalog.on_incident_event`` is a ``notifications.Router`` listener: when an incident opens,
reopens (or changes in any way a trigger names), the runs of every matching runbook are queued in the
same transaction as the change, next to the notifications' outbox rows — so a run exists as soon as
the change does, and a restart loses none. ``request`` does the same for an operator's manual run.
Each queued run also lands on the incident's timeline and in the audit trail.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection

from opsloop.aiops.incidents.notifications import incident_payload
from opsloop.aiops.runbooks.config import Runbook
from opsloop.aiops.runbooks.gate import ModelGate, check_retrain
from opsloop.errors import InvalidInputError, InvalidStateError, NotFoundError
from opsloop.storage.sql.incidents import SqlIncidentStore
from opsloop.storage.sql.runbooks import SqlRunbookStore

__all__ = ["MANUAL", "MAX_ACTOR", "RunbookCatalog", "runbook_actor"]

log = logging.getLogger("opsloop.aiops.runbooks")

MANUAL = "manual"
MAX_ACTOR = 200  # the actor columns of runs, timeline and audit rows


def runbook_actor(name: str) -> str:
    """Who a runbook's own entries are by: ``runbook:NAME``, cut to what the actor columns hold (a name may
    be 200 characters; PostgreSQL refuses a longer value)."""
    return f"runbook:{name}"[:MAX_ACTOR]


class RunbookCatalog:
    """Runbooks by name; queues their runs."""

    def __init__(self, runs: SqlRunbookStore, incidents: SqlIncidentStore,
                 clock: Callable[[], float] = _time.time) -> None:
        self.runs = runs
        self.incidents = incidents
        self.clock = clock
        self.runbooks: dict[str, Runbook] = {}
        # Told (from any thread) when runs were queued, so a runner starts them without waiting.
        self.on_queued: list[Callable[[], None]] = []
        # Reads a retrain's validation policy; while set, a policy it refuses is refused up front.
        self.gate: ModelGate | None = None

    def set(self, runbooks: Iterable[Runbook]) -> None:
        """Replace the runbooks.

        Raises:
            InvalidInputError: with a ``gate``, a retrain's policy it cannot read (``field`` ``policy…``).
        """
        runbooks = list(runbooks)
        for rb in runbooks:
            self.check(rb)
        self.runbooks = {rb.name: rb for rb in runbooks}

    def attach(self, gate: ModelGate | None) -> None:
        """Check retrain aliases and policies with ``gate`` from now on (``None``: no more); logs those already
        configured that it cannot read (their runs will fail before training)."""
        self.gate = gate
        for rb in list(self.runbooks.values()):
            try:
                self.check(rb)
            except InvalidInputError as exc:
                log.error("%s (its runs will fail before training)", exc.message)

    def check(self, rb: Runbook) -> None:
        """Refuse a retrain whose alias a promotion cannot set or whose validation policy the gate cannot
        read (no gate: nothing to check)."""
        retrain = rb.action.retrain
        if retrain is not None and self.gate is not None:
            check_retrain(self.gate, rb.name, retrain)

    def get(self, name: str) -> Runbook:
        try:
            return self.runbooks[name]
        except KeyError:
            raise NotFoundError(f"runbook {name!r} is not configured", field="name") from None

    # --- requests ---------------------------------------------------------------------------------
    def on_incident_event(self, conn: Connection, event: str, incident: Mapping[str, Any], now: float) -> int:
        """Queue the runs of the runbooks whose trigger wants this incident event; returns how many."""
        queued = 0
        for rb in list(self.runbooks.values()):
            if rb.trigger is None or not rb.trigger.wants(event, incident):
                continue
            if self.runs.pending(conn, rb.name, int(incident["id"])):
                continue  # a run for this incident is already waiting: one is enough
            self._queue(conn, rb, incident, event, runbook_actor(rb.name), now)
            queued += 1
        if queued:
            self._wake()
        return queued

    def request(self, incident_id: int, name: str, actor: str) -> dict[str, Any]:
        """An operator asks for a run of runbook ``name`` on an incident; returns the queued run.

        Raises:
            NotFoundError: no such incident or runbook (``field`` says which).
            InvalidInputError: a retrain whose validation policy cannot be read (``field`` ``policy…``).
            InvalidStateError: the incident was merged into another one.
        """
        rb = self.get(name)
        self.check(rb)  # a policy file gone since the runbook was configured: say so now, not after training
        now = self.clock()
        with self.incidents.db.write() as conn:
            row = self.incidents.row(conn, incident_id)
            if row["merged_into"] is not None:
                raise InvalidStateError(f"incident {incident_id} was merged into #{row['merged_into']}; "
                                        "run the runbook there", field="id")
            run_id = self._queue(conn, rb, row, MANUAL, actor, now)
            run = self.runs.get(run_id, conn=conn)
        self._wake()
        return run

    def _queue(self, conn: Connection, rb: Runbook, incident: Mapping[str, Any], trigger: str, actor: str,
               now: float) -> int:
        incident_id = int(incident["id"])
        actor = actor[:MAX_ACTOR]
        payload = incident_payload(trigger, incident, now)
        payload["runbook"] = rb.name
        run_id = self.runs.create(conn, {
            "runbook": rb.name, "action": rb.action.type, "incident_id": incident_id, "trigger": trigger,
            "actor": actor, "spec": rb.to_dict(secrets=True), "payload": payload, "created_at": now})
        why = f"on {trigger}" if trigger != MANUAL else f"asked by {actor}"
        self.incidents.add_timeline(conn, [{
            "incident_id": incident_id, "time": now, "kind": "runbook", "actor": actor,
            "text": f"runbook {rb.name!r} queued ({why})",
            "data": {"run_id": run_id, "runbook": rb.name, "state": "queued", "trigger": trigger}}])
        self.incidents.audit(conn, actor, "queue", "runbook_run", run_id,
                             {"runbook": rb.name, "incident_id": incident_id, "trigger": trigger}, at=now)
        return run_id

    def _wake(self) -> None:
        for callback in self.on_queued:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a runner that cannot be woken polls anyway
                log.exception("waking the runbook runner failed")
