"""SQL store of runbook runs (``aiops_runbook_runs``): the queue of requested runs and their outcome.

``create`` takes the caller's connection, so a run is queued in the same transaction as the incident
change (or the operator's request) that asked for it. Workers ``claim`` queued runs with a lease, so
several server workers never start the same run, and a run whose worker died is found by its expired
lease (``expire_leases``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from opsloop.errors import NotFoundError
from opsloop.storage.sql._dialect import comma_values
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_aiops import aiops_runbook_runs

__all__ = ["SqlRunbookStore", "run_to_dict"]

R = aiops_runbook_runs
_JSON_FIELDS = ("spec", "payload", "validation")


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    """Column values of ``fields``, the JSON ones serialised."""
    return {k: (orjson.dumps(v, default=str).decode() if k in _JSON_FIELDS else v) for k, v in fields.items()}


def run_to_dict(row: Any) -> dict[str, Any]:
    m = {str(k): v for k, v in row._mapping.items()}
    for key in _JSON_FIELDS:
        m[key] = orjson.loads(m[key])
    return m


class SqlRunbookStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, conn: Connection, fields: dict[str, Any]) -> int:
        """Insert a ``queued`` run; returns its id."""
        values = _encode({"state": "queued", "output": "", "error": "", "validation": {}, **fields})
        return int(conn.execute(insert(R).values(**values).returning(R.c.id)).scalar_one())

    def get(self, run_id: int, conn: Connection | None = None) -> dict[str, Any]:
        if conn is not None:
            row = conn.execute(select(R).where(R.c.id == run_id)).first()
        else:
            with self.db.read() as c:
                row = c.execute(select(R).where(R.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"runbook run {run_id} does not exist", field="run_id")
        return run_to_dict(row)

    def list(self, *, incident_id: int | None = None, state: str | None = None, runbook: str | None = None,
             limit: int = 100, offset: int = 0) -> builtins.list[dict[str, Any]]:
        """Runs, newest first."""
        stmt = select(R).order_by(R.c.id.desc()).limit(limit).offset(offset)
        if incident_id is not None:
            stmt = stmt.where(R.c.incident_id == incident_id)
        if state:
            stmt = stmt.where(R.c.state.in_(comma_values(state)))
        if runbook:
            stmt = stmt.where(R.c.runbook == runbook)
        with self.db.read() as conn:
            return [run_to_dict(r) for r in conn.execute(stmt)]

    def pending(self, conn: Connection, runbook: str, incident_id: int) -> bool:
        """Whether a run of ``runbook`` for the incident is waiting to start."""
        return conn.execute(select(R.c.id).where(R.c.runbook == runbook, R.c.incident_id == incident_id,
                                                 R.c.state == "queued").limit(1)).first() is not None

    def queued(self, limit: int = 50) -> builtins.list[dict[str, Any]]:
        """Queued runs, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(select(R).where(R.c.state == "queued").order_by(R.c.created_at, R.c.id).limit(limit))
            return [run_to_dict(r) for r in rows]

    def running_runbooks(self) -> set[str]:
        """Names of the runbooks with a run in progress (on any worker)."""
        with self.db.read() as conn:
            return {r[0] for r in conn.execute(select(R.c.runbook).where(R.c.state == "running").distinct())}

    def claim(self, run_id: int, now: float, lease_until: float) -> bool:
        """Move a queued run to ``running``; ``False`` when another worker took it first."""
        with self.db.write() as conn:
            r = conn.execute(update(R).where(R.c.id == run_id, R.c.state == "queued")
                             .values(state="running", started_at=now, lease_until=lease_until))
            return r.rowcount == 1

    def update(self, conn: Connection, run_id: int, fields: dict[str, Any]) -> None:
        conn.execute(update(R).where(R.c.id == run_id).values(**_encode(fields)))

    def expired(self, now: float) -> builtins.list[dict[str, Any]]:
        """Running runs whose lease ran out: their worker stopped without finishing them."""
        with self.db.read() as conn:
            rows = conn.execute(select(R).where(R.c.state == "running", R.c.lease_until < now))
            return [run_to_dict(r) for r in rows]

    def finish(self, conn: Connection, run_id: int, fields: dict[str, Any], *,
               from_states: Iterable[str] = ("running",)) -> bool:
        """Record a run's outcome unless it already left ``from_states``; ``True`` when it was recorded."""
        r = conn.execute(update(R).where(R.c.id == run_id, R.c.state.in_(list(from_states))).values(**_encode(fields)))
        return r.rowcount == 1
