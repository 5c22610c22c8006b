"""SQL stores of the AIOps side besides signals: incidents with their timeline and audit trail, and the
operational configuration (silences, topology edges, the notification outbox, named documents).

Writes take the caller's connection so the pipeline can change signals, incidents and timeline in one
transaction; reads open their own.
"""

from __future__ import annotations

import builtins
import functools
import time
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, func, insert, or_, select, update

from opsloop.core.signals import Severity
from opsloop.errors import NotFoundError
from opsloop.storage.sql._dialect import comma_values, like_escape, upsert
from opsloop.storage.sql.detector_state import SqlDetectorStateStore
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.metric_points import SqlMetricPointStore
from opsloop.storage.sql.schema_aiops import (
    aiops_audit,
    aiops_config,
    aiops_incidents,
    aiops_notifications,
    aiops_signals,
    aiops_silences,
    aiops_timeline,
    aiops_topology,
)
from opsloop.storage.sql.signals import SqlSignalStore

__all__ = ["AiopsStores", "SqlIncidentStore", "SqlOpsStore", "incident_to_dict"]

I = aiops_incidents  # noqa: E741
# Built once: per batch, building the IN list's elements one by one cost more than the query.
_ROWS = select(I).where(I.c.id.in_(bindparam("ids", expanding=True)))
_SEV = {s.value: s.name.lower() for s in Severity}
_JSON_FIELDS = ("services", "labels", "reasons", "flags")


@functools.lru_cache(maxsize=64)
def _update_of(keys: tuple[str, ...]) -> Any:
    """The UPDATE of one incident's ``keys`` (parameters ``_id_`` and ``_<key>``), built once per key set."""
    return update(I).where(I.c.id == bindparam("_id_")).values({k: bindparam(f"_{k}") for k in keys})


def _j(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def incident_to_dict(row: Any) -> dict[str, Any]:
    m = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    return {
        "id": m["id"],
        "title": m["title"],
        "state": m["state"],
        "severity": _SEV.get(m["severity"], "warning"),
        "service": m["service"],
        "services": orjson.loads(m["services"]),
        "labels": orjson.loads(m["labels"]),
        "assignee": m["assignee"],
        "signal_count": m["signal_count"],
        "open_signals": m["open_signals"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
        "acknowledged_at": m["acknowledged_at"],
        "resolved_at": m["resolved_at"],
        "first_signal_at": m["first_signal_at"],
        "last_signal_at": m["last_signal_at"],
        "resolution": m["resolution"],
        "merged_into": m["merged_into"],
        "flags": orjson.loads(m["flags"]),
    }


class SqlIncidentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writes ---------------------------------------------------------------------------------
    def create(self, conn: Connection, fields: dict[str, Any]) -> int:
        values = {k: (_j(v) if k in _JSON_FIELDS else v) for k, v in fields.items()}
        return int(conn.execute(insert(I).values(**values).returning(I.c.id)).scalar_one())

    def update(self, conn: Connection, incident_id: int, fields: dict[str, Any]) -> None:
        values = {k: (_j(v) if k in _JSON_FIELDS else v) for k, v in fields.items()}
        conn.execute(update(I).where(I.c.id == incident_id).values(**values))

    def update_many(self, conn: Connection, items: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Several incident updates, batched by the set of fields they change."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for incident_id, fields in items:
            keys = tuple(sorted(fields))
            params = {f"_{k}": (_j(v) if k in _JSON_FIELDS else v) for k, v in fields.items()}
            params["_id_"] = incident_id
            groups.setdefault(keys, []).append(params)
        for keys, batch in groups.items():
            conn.execute(_update_of(keys), batch)

    def row(self, conn: Connection, incident_id: int, *, lock: bool = False) -> dict[str, Any]:
        stmt = select(I).where(I.c.id == incident_id)
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        r = conn.execute(stmt).first()
        if r is None:
            raise NotFoundError(f"incident {incident_id} does not exist", field="id")
        m = dict(r._mapping)
        for k in _JSON_FIELDS:
            m[k] = orjson.loads(m[k])
        return m

    def rows(self, conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = list(set(ids))
        out = {}
        for i in range(0, len(ids), 500):
            for r in conn.execute(_ROWS, {"ids": ids[i:i + 500]}):
                m = dict(r._mapping)
                for k in _JSON_FIELDS:
                    m[k] = orjson.loads(m[k])
                out[m["id"]] = m
        return out

    def last_end(self, conn: Connection, incident_id: int) -> float | None:
        """When the last of the incident's resolved alerts ended (``None``: none has)."""
        S = aiops_signals
        return conn.execute(select(func.max(S.c.resolved_at)).where(
            S.c.incident_id == incident_id, S.c.status == "resolved")).scalar()

    def add_timeline(self, conn: Connection, entries: Sequence[dict[str, Any]]) -> None:
        if entries:
            conn.execute(insert(aiops_timeline), [
                {"incident_id": e["incident_id"], "time": e["time"], "kind": e["kind"], "text": e.get("text", ""),
                 "actor": e.get("actor", ""), "data": _j(e.get("data") or {})} for e in entries])

    def move_timeline(self, conn: Connection, source_id: int, target_id: int) -> None:
        conn.execute(update(aiops_timeline).where(aiops_timeline.c.incident_id == source_id)
                     .values(incident_id=target_id))

    def audit(self, conn: Connection, actor: str, action: str, entity: str, entity_id: Any,
              data: dict[str, Any] | None = None, at: float | None = None) -> None:
        conn.execute(insert(aiops_audit).values(
            time=at if at is not None else time.time(), actor=actor or "anonymous", action=action,
            entity=entity, entity_id=str(entity_id), data=_j(data or {})))

    # --- reads ----------------------------------------------------------------------------------
    def get(self, incident_id: int) -> dict[str, Any]:
        with self.db.read() as conn:
            r = conn.execute(select(I).where(I.c.id == incident_id)).first()
        if r is None:
            raise NotFoundError(f"incident {incident_id} does not exist", field="id")
        return incident_to_dict(r)

    def reasons(self, incident_id: int) -> list[Any]:
        with self.db.read() as conn:
            r = conn.execute(select(I.c.reasons).where(I.c.id == incident_id)).first()
        return orjson.loads(r[0]) if r else []

    def list(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        service: str | None = None,
        q: str | None = None,
        assignee: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        conds: builtins.list[ColumnElement[bool]] = []
        if state:
            states = comma_values(state)
            conds.append(I.c.state.in_(states))
        if severity:
            sevs = [int(Severity.parse(s)) for s in comma_values(severity)]
            conds.append(I.c.severity.in_(sevs))
        if service:
            conds.append(or_(I.c.service == service, I.c.services.like(f'%"{like_escape(service)}"%', escape="\\")))
        if assignee:
            conds.append(I.c.assignee == assignee)
        if q:  # lowered by the database on both sides: SQLite lowers ASCII letters only, so "Échec" stays "Échec"
            pattern = func.lower(f"%{like_escape(q)}%")
            conds.append(or_(func.lower(I.c.title).like(pattern, escape="\\"),
                             func.lower(I.c.labels).like(pattern, escape="\\"),
                             func.lower(I.c.resolution).like(pattern, escape="\\")))
        where = and_(*conds) if conds else None
        stmt = select(I).order_by(I.c.updated_at.desc(), I.c.id.desc()).limit(limit).offset(offset)
        count = select(func.count()).select_from(I)
        if where is not None:
            stmt, count = stmt.where(where), count.where(where)
        with self.db.read() as conn:
            rows = [incident_to_dict(r) for r in conn.execute(stmt)]
            total = int(conn.execute(count).scalar_one())
        return rows, total

    def timeline(self, incident_id: int) -> builtins.list[dict[str, Any]]:
        T = aiops_timeline
        with self.db.read() as conn:
            rows = conn.execute(select(T).where(T.c.incident_id == incident_id).order_by(T.c.time, T.c.id))
            return [{"time": r.time, "kind": r.kind, "text": r.text, "actor": r.actor, "data": orjson.loads(r.data)}
                    for r in rows]

    def open_ids(self, conn: Connection, since: float | None = None) -> builtins.list[dict[str, Any]]:
        """Incidents the correlator should know at start: open ones and recently resolved ones."""
        cond = I.c.state != "resolved"
        if since is not None:
            cond = or_(cond, and_(I.c.resolved_at >= since, I.c.merged_into.is_(None)))
        return [dict(r._mapping) for r in conn.execute(select(I.c.id, I.c.state, I.c.last_signal_at).where(cond))]

    def resolved_candidates(self, limit: int = 2000, exclude: int | None = None) -> builtins.list[dict[str, Any]]:
        stmt = (select(I).where(I.c.state == "resolved", I.c.merged_into.is_(None))
                .order_by(I.c.resolved_at.desc()).limit(limit))
        if exclude is not None:
            stmt = stmt.where(I.c.id != exclude)
        with self.db.read() as conn:
            return [incident_to_dict(r) for r in conn.execute(stmt)]

    def audit_trail(self, entity: str | None = None, entity_id: Any = None, limit: int = 200,
                    offset: int = 0) -> builtins.list[dict[str, Any]]:
        A = aiops_audit
        stmt = select(A).order_by(A.c.time.desc(), A.c.id.desc()).limit(limit).offset(offset)
        if entity:
            stmt = stmt.where(A.c.entity == entity)
        if entity_id is not None:
            stmt = stmt.where(A.c.entity_id == str(entity_id))
        with self.db.read() as conn:
            return [{"time": r.time, "actor": r.actor, "action": r.action, "entity": r.entity,
                     "entity_id": r.entity_id, "data": orjson.loads(r.data)} for r in conn.execute(stmt)]



class SqlOpsStore:
    """Silences, topology edges, the notification outbox and named configuration documents."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- named documents --------------------------------------------------------------------------
    def get_config(self, key: str, default: Any = None) -> Any:
        with self.db.read() as conn:
            r = conn.execute(select(aiops_config.c.value).where(aiops_config.c.key == key)).first()
        return orjson.loads(r[0]) if r else default

    def set_config(self, key: str, value: Any, conn: Connection | None = None) -> None:
        row = [{"key": key, "value": _j(value), "updated_at": time.time()}]
        if conn is not None:
            upsert(conn, aiops_config, row, ["key"], ["value", "updated_at"])
            return
        with self.db.write() as c:
            upsert(c, aiops_config, row, ["key"], ["value", "updated_at"])

    # --- silences ---------------------------------------------------------------------------------
    def add_silence(self, conn: Connection, fields: dict[str, Any]) -> int:
        values = dict(fields)
        values["matchers"] = _j(values["matchers"])
        return int(conn.execute(insert(aiops_silences).values(**values).returning(aiops_silences.c.id)).scalar_one())

    def expire_silence(self, conn: Connection, silence_id: int, at: float) -> None:
        S = aiops_silences
        r = conn.execute(update(S).where(S.c.id == silence_id).values(ends_at=func.min(S.c.ends_at, at)
                         if conn.dialect.name == "sqlite" else func.least(S.c.ends_at, at)))
        if r.rowcount == 0:
            raise NotFoundError(f"silence {silence_id} does not exist", field="id")

    def silences(self, *, active_after: float | None = None) -> list[dict[str, Any]]:
        S = aiops_silences
        stmt = select(S).order_by(S.c.id)
        if active_after is not None:
            stmt = stmt.where(S.c.ends_at > active_after)
        with self.db.read() as conn:
            out = []
            for r in conn.execute(stmt):
                m = dict(r._mapping)
                m["matchers"] = orjson.loads(m["matchers"])
                out.append(m)
            return out

    # --- topology ---------------------------------------------------------------------------------
    def topology_edges(self, origin: str | None = None) -> list[dict[str, Any]]:
        T = aiops_topology
        stmt = select(T).order_by(T.c.source, T.c.target)
        if origin:
            stmt = stmt.where(T.c.origin == origin)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def replace_edges(self, conn: Connection, origin: str,
                      edges: Sequence[tuple[str, str, float] | tuple[str, str, float, float]]) -> None:
        """Replace the edges of ``origin``: ``(source, target, weight)``, or with a fourth item, the time
        the edge was last seen (stored as ``updated_at``; else now)."""
        T = aiops_topology
        conn.execute(delete(T).where(T.c.origin == origin))
        now = time.time()
        if edges:
            conn.execute(insert(T), [{"source": e[0], "target": e[1], "origin": origin, "weight": e[2],
                                      "updated_at": e[3] if len(e) > 3 else now} for e in edges])

    # --- notification outbox ----------------------------------------------------------------------
    def enqueue(self, conn: Connection, items: Sequence[dict[str, Any]]) -> None:
        if items:
            conn.execute(insert(aiops_notifications), [
                {"target": n["target"], "incident_id": n.get("incident_id"), "event": n["event"],
                 "payload": _j(n["payload"]), "state": "pending", "attempts": 0,
                 "next_attempt_at": n["created_at"], "last_error": "", "created_at": n["created_at"],
                 "delivered_at": None} for n in items])

    def due(self, now: float, limit: int = 50) -> list[dict[str, Any]]:
        """The pending rows due by ``now``, each the oldest pending row of its target and incident.

        A receiver gets an incident's events in the order they happened (PagerDuty must not get the
        trigger after the resolve): a row behind a pending one of its target and incident (an 'opened'
        waiting for its retry) waits until that one is delivered or dead, put back to that one's next
        attempt so that it holds no place among the due rows meanwhile.
        """
        N = aiops_notifications
        with self.db.read() as conn:
            rows = conn.execute(select(N).where(N.c.state == "pending", N.c.next_attempt_at <= now)
                                .order_by(N.c.next_attempt_at, N.c.id).limit(limit)).all()
            heads = self._queue_heads(conn, {r.incident_id for r in rows if r.incident_id is not None})
        out, later = [], {}
        for r in rows:
            head_id, head_next = heads.get((r.target, r.incident_id), (r.id, r.next_attempt_at))
            if head_id == r.id:
                out.append({**r._mapping, "payload": orjson.loads(r.payload)})
            elif head_next > r.next_attempt_at:
                later[r.id] = head_next
        if later:
            with self.db.write() as conn:
                conn.execute(update(N).where(N.c.id == bindparam("row_id"), N.c.state == "pending")
                             .values(next_attempt_at=bindparam("until")),
                             [{"row_id": i, "until": t} for i, t in later.items()])
        return out

    @staticmethod
    def _queue_heads(conn: Connection, incident_ids: set[int]) -> dict[tuple[str, int], tuple[int, float]]:
        """The oldest pending row (id, next attempt) of each target for these incidents."""
        N = aiops_notifications
        heads: dict[tuple[str, int], tuple[int, float]] = {}
        if incident_ids:
            for h in conn.execute(select(N.c.target, N.c.incident_id, N.c.id, N.c.next_attempt_at)
                                  .where(N.c.state == "pending", N.c.incident_id.in_(incident_ids))
                                  .order_by(N.c.id.desc())):
                heads[(h.target, h.incident_id)] = (h.id, h.next_attempt_at)  # the last one is the oldest
        return heads

    def next_due(self) -> float | None:
        N = aiops_notifications
        with self.db.read() as conn:
            return conn.execute(select(func.min(N.c.next_attempt_at)).where(N.c.state == "pending")).scalar()

    def claim(self, notification_id: int, now: float, lease_s: float = 60.0) -> bool:
        """Take a due row for one delivery attempt; ``False`` when another worker took it first."""
        N = aiops_notifications
        with self.db.write() as conn:
            r = conn.execute(update(N).where(N.c.id == notification_id, N.c.state == "pending",
                                             N.c.next_attempt_at <= now).values(next_attempt_at=now + lease_s))
            return r.rowcount == 1

    def mark(self, notification_id: int, fields: dict[str, Any]) -> None:
        N = aiops_notifications
        with self.db.write() as conn:
            conn.execute(update(N).where(N.c.id == notification_id).values(**fields))

    def notifications(self, state: str | None = None, limit: int = 200, incident_id: int | None = None,
                      offset: int = 0) -> list[dict[str, Any]]:
        N = aiops_notifications
        stmt = select(N).order_by(N.c.id.desc()).limit(limit).offset(offset)
        if state:
            stmt = stmt.where(N.c.state.in_(comma_values(state)))
        if incident_id is not None:
            stmt = stmt.where(N.c.incident_id == incident_id)
        with self.db.read() as conn:
            out = []
            for r in conn.execute(stmt):
                m = {str(k): v for k, v in r._mapping.items()}
                m["payload"] = orjson.loads(m["payload"])
                out.append(m)
            return out

    def prune_delivered(self, before: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` rows delivered before ``before``; returns how many went.

        Dead letters, pending and superseded rows are never deleted. Nor is the last row delivered to each
        target of an incident: it tells which targets heard of the incident (they hear its end), and that a
        dead letter older than it is superseded, not replayed out of order.
        """
        N, later = aiops_notifications, aiops_notifications.alias("later")
        newer = select(later.c.id).where(later.c.incident_id == N.c.incident_id, later.c.target == N.c.target,
                                         later.c.state == "delivered", later.c.id > N.c.id).exists()
        ids = select(N.c.id).where(N.c.state == "delivered", N.c.delivered_at < before,
                                   or_(N.c.incident_id.is_(None), newer)).limit(limit)
        with self.db.write() as conn:
            return conn.execute(delete(N).where(N.c.id.in_(ids))).rowcount or 0

    def replay(self, ids: Sequence[int] | None, now: float) -> tuple[int, int]:
        """Put dead letters (all, or the given ids) back in the queue; returns how many, and how many were
        ``superseded`` instead: a later event of the same incident was delivered to that target since, so
        sending this one now would deliver the incident's events out of order (a PagerDuty trigger after
        its resolve would page for an incident already resolved)."""
        N, later = aiops_notifications, aiops_notifications.alias("later")
        dead = N.c.state == "dead"
        if ids:
            dead = and_(dead, N.c.id.in_(list(ids)))
        stale = select(later.c.id).where(later.c.target == N.c.target, later.c.incident_id == N.c.incident_id,
                                         later.c.id > N.c.id, later.c.state == "delivered").exists()
        with self.db.write() as conn:
            superseded = conn.execute(update(N).where(dead, stale).values(state="superseded")).rowcount
            replayed = conn.execute(update(N).where(dead).values(state="pending", attempts=0,
                                                                 next_attempt_at=now)).rowcount
            return replayed, superseded


class AiopsStores:
    """The AIOps stores over one database (what ``Runtime.aiops`` returns)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @cached_property
    def signals(self) -> SqlSignalStore:
        return SqlSignalStore(self.db)

    @cached_property
    def incidents(self) -> SqlIncidentStore:
        return SqlIncidentStore(self.db)

    @cached_property
    def ops(self) -> SqlOpsStore:
        return SqlOpsStore(self.db)

    @cached_property
    def metric_points(self) -> SqlMetricPointStore:
        return SqlMetricPointStore(self.db)

    @cached_property
    def detector_state(self) -> SqlDetectorStateStore:
        return SqlDetectorStateStore(self.db)
