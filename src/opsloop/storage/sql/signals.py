"""The SQL signal store: every normalised signal, duplicates folded.

A row is one *occurrence* of a condition. Stateful signals (alerts, anomalies, predictions, model
signals) are identified by fingerprint and start time: a re-sent alert folds into its row (``count``
and ``last_time`` grow) and a resolved one closes it. Stateless signals (logs, events) are identified by
fingerprint, time and text, so only an exact re-send folds.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update

from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.storage.sql._dialect import chunks, comma_values
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_aiops import aiops_incidents as INC
from opsloop.storage.sql.schema_aiops import aiops_signals as T

__all__ = ["STATEFUL_KINDS", "STATELESS_KINDS", "SqlSignalStore", "dedup_key", "row_for", "row_to_dict", "row_to_signal"]

STATELESS_KINDS = frozenset({"log", "event", "metric"})
# the kinds that fire and resolve: alerts, and opsloop's anomalies, predictions and model signals
STATEFUL_KINDS = tuple(str(k) for k in SignalKind if str(k) not in STATELESS_KINDS)
METRIC_KIND = "metric"  # one row per series: the latest sample, ``count`` samples seen
_SEVERITY_NAMES = {s.value: s.name.lower() for s in Severity}


def dedup_key(sig: Signal, fp: str) -> str:
    if sig.kind == METRIC_KIND:
        raw = fp
    elif sig.kind in STATELESS_KINDS:
        raw = f"{fp}|{sig.time!r}|{sig.text}"
    else:
        raw = f"{fp}|{round(sig.time, 3)!r}"
    return hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode() if value else "{}"


COLUMNS = ("dedup_key", "fingerprint", "time", "last_time", "received", "count", "source", "kind", "service",
           "severity", "status", "resolved_at", "text", "labels", "values", "evidence", "suppressed", "incident_id",
           "grouping")
_UPSERT = (
    "INSERT INTO aiops_signals ({cols}) VALUES ({marks}) ON CONFLICT (dedup_key) DO UPDATE SET "
    "count = aiops_signals.count + excluded.count, last_time = excluded.last_time, status = excluded.status, "
    '"values" = excluded."values", text = excluded.text, '
    "resolved_at = COALESCE(excluded.resolved_at, aiops_signals.resolved_at)"
)


def _upsert_sql(paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    return _UPSERT.format(cols=", ".join(f'"{c}"' for c in COLUMNS), marks=", ".join([mark] * len(COLUMNS)))


def record_rows(signals: Sequence[Signal], received: float) -> tuple[list[list], list[int]]:
    """Rows (``COLUMNS`` order) of stateless signals, exact duplicates within the batch folded.

    Returns the rows and, for each signal, the index of its row. Fingerprints and label JSON are
    computed once per distinct label set: a batch of log records mostly shares a few.
    """
    # per label set: fingerprint, labels JSON, and the source, kind and service columns
    cache: dict[tuple, tuple[str, str, str, str, str]] = {}
    rows: list[list] = []
    where: dict[str, int] = {}
    index: list[int] = []
    sha1 = hashlib.sha1
    for sig in signals:
        kind, t = sig.kind, sig.time
        lk = (sig.source, kind, sig.service, tuple(sig.labels.items()))
        ent = cache.get(lk)
        if ent is None:
            ent = cache[lk] = (sig.fingerprint(), _dumps(sig.labels), sig.source[:200], str(kind)[:32],
                               sig.service[:200])
        fp = ent[0]
        raw = fp if kind == METRIC_KIND else f"{fp}|{t!r}|{sig.text}"
        key = sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        at = where.get(key)
        if at is not None:
            rows[at][5] += 1
            if kind == METRIC_KIND and t >= rows[at][3]:
                rows[at][3] = t
                rows[at][14] = _dumps(sig.values)
            index.append(at)
            continue
        where[key] = len(rows)
        index.append(len(rows))
        values, evidence = sig.values, sig.evidence
        rows.append([key, fp, t, t, received, 1, ent[2], ent[3], ent[4], int(sig.severity), sig.status, None,
                     sig.text, ent[1], _dumps(values) if values else "{}", _dumps(evidence) if evidence else "{}",
                     "", None, ""])
    return rows, index


def row_for(sig: Signal, fp: str, received: float, *, incident_id: int | None = None, suppressed: str = "",
            count: int = 1) -> dict[str, Any]:
    """The row a new signal becomes."""
    resolved = sig.status == "resolved"
    end = sig.evidence.get("endsAt") if resolved else None
    return {
        "dedup_key": dedup_key(sig, fp),
        "fingerprint": fp,
        "time": sig.time,
        "last_time": sig.time,
        "received": received,
        "count": count,
        "source": sig.source[:200],
        "kind": str(sig.kind)[:32],
        "service": sig.service[:200],
        "severity": int(sig.severity),
        "status": sig.status,
        "resolved_at": (float(end) if isinstance(end, (int, float)) else sig.time) if resolved else None,
        "text": sig.text,
        "labels": _dumps(sig.labels),
        "values": _dumps(sig.values),
        "evidence": _dumps(sig.evidence),
        "suppressed": suppressed[:200],
        "incident_id": incident_id,
        "grouping": "",
    }


def row_to_dict(row: Any) -> dict[str, Any]:
    """A stored row as the API shows it: ``Signal.to_dict()`` plus id, count, times and incident."""
    m = row._mapping if hasattr(row, "_mapping") else row
    return {
        "id": m["id"],
        "time": m["time"],
        "source": m["source"],
        "kind": m["kind"],
        "service": m["service"],
        "labels": orjson.loads(m["labels"]),
        "severity": _SEVERITY_NAMES.get(m["severity"], "warning"),
        "text": m["text"],
        "values": orjson.loads(m["values"]),
        "status": m["status"],
        "evidence": orjson.loads(m["evidence"]),
        "fingerprint": m["fingerprint"],
        "count": m["count"],
        "last_time": m["last_time"],
        "received": m["received"],
        "resolved_at": m["resolved_at"],
        "suppressed": m["suppressed"],
        "incident_id": m["incident_id"],
        "grouping": orjson.loads(m["grouping"]) if m["grouping"] else None,
    }


def row_to_signal(row: Any) -> Signal:
    m = row._mapping if hasattr(row, "_mapping") else row
    return Signal(
        time=m["time"], source=m["source"], kind=m["kind"], service=m["service"],
        labels=orjson.loads(m["labels"]), severity=Severity(m["severity"]), text=m["text"],
        values=orjson.loads(m["values"]), status=m["status"], evidence=orjson.loads(m["evidence"]),
    )


# Built once (building the IN list per batch cost more than running it; the fold likewise).
_OPEN_ROWS = (
    select(T.c.id, T.c.fingerprint, T.c.incident_id, T.c.time, T.c.last_time, T.c.dedup_key, T.c.suppressed,
           T.c.severity)
    .where(T.c.fingerprint.in_(bindparam("fps", expanding=True)), T.c.status == "firing",
           T.c.kind.not_in(STATELESS_KINDS))
    .order_by(T.c.time)
)

_FOLD = update(T).where(T.c.id == bindparam("_id")).values(
    count=T.c.count + bindparam("_n"), last_time=bindparam("_last"), status=bindparam("_status"),
    resolved_at=bindparam("_resolved"), text=func.coalesce(bindparam("_text"), T.c.text),
    values=func.coalesce(bindparam("_values"), T.c["values"]))


class SqlSignalStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writes (inside the caller's transaction) -----------------------------------------------
    def open_rows(self, conn: Connection, fingerprints: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The latest still-firing stateful row of each fingerprint."""
        out: dict[str, dict[str, Any]] = {}
        for batch in chunks(set(fingerprints), 500):
            for r in conn.execute(_OPEN_ROWS, {"fps": batch}):
                out[r.fingerprint] = dict(r._mapping)
        return out

    def rows_by_key(self, conn: Connection, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for batch in chunks(set(keys), 500):
            for r in conn.execute(select(T.c.id, T.c.dedup_key, T.c.status, T.c.incident_id).where(
                    T.c.dedup_key.in_(batch))):
                out[r.dedup_key] = dict(r._mapping)
        return out

    def upsert_raw(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """``upsert`` for rows already in ``COLUMNS`` order (the fast path of log records)."""
        if rows:
            sql = _upsert_sql(conn.dialect.paramstyle)
            for batch in chunks(rows, 5000):
                conn.exec_driver_sql(sql, [tuple(r) for r in batch])

    def upsert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert new rows; a row whose dedup key exists folds into it instead."""
        self.upsert_raw(conn, [tuple([r[c] for c in COLUMNS]) for r in rows])

    def fold(self, conn: Connection, updates: Sequence[dict[str, Any]]) -> None:
        """Update existing rows: ``id``, ``n`` (occurrences to add), ``last_time``, ``status``,
        ``resolved_at``, ``text``, ``values`` (``None``: kept as stored)."""
        if not updates:
            return
        conn.execute(_FOLD, [{"_id": u["id"], "_n": u["n"], "_last": u["last_time"], "_status": u["status"],
                             "_resolved": u["resolved_at"], "_text": u["text"], "_values": u["values"]}
                            for u in updates])

    def muted_firing(self, conn: Connection) -> builtins.list[Any]:
        """The stateful rows still firing that a silence, maintenance window or inhibition kept out of every
        incident (read once at start, through the kind index: alerts and anomalies, not log records)."""
        stmt = select(T).where(
            T.c.kind.in_(STATEFUL_KINDS), T.c.status == "firing", T.c.incident_id.is_(None),
            or_(T.c.suppressed.like("silence:%"), T.c.suppressed.like("maintenance:%"),
                T.c.suppressed.like("inhibited%")))
        return list(conn.execute(stmt))

    def set_correlation(self, conn: Connection, row_id: int, outcome: dict[str, Any]) -> None:
        """Write a stored row's correlation anew: its ``suppressed``, ``incident_id`` and ``grouping``."""
        conn.execute(update(T).where(T.c.id == row_id).values(
            suppressed=str(outcome["suppressed"])[:200], incident_id=outcome["incident_id"],
            grouping=outcome["grouping"]))

    def set_incident(self, conn: Connection, ids: Iterable[int], incident_id: int | None) -> None:
        for batch in chunks(list(ids), 500):
            conn.execute(update(T).where(T.c.id.in_(batch)).values(incident_id=incident_id))

    def move_incident(self, conn: Connection, source_id: int, target_id: int) -> None:
        conn.execute(update(T).where(T.c.incident_id == source_id).values(incident_id=target_id))

    def prune(self, conn: Connection, before: float, kinds: Sequence[str], *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` signals of ``kinds`` last seen before ``before``; returns how many went.

        Found through the kind and time index, unsorted (a backlog of millions is not sorted for each
        slice). Kept whatever their age: the signals of an incident not resolved, or resolved since
        ``before`` (its evidence), and alerts still firing (Alertmanager sends them again: they would
        come back as new alerts).
        """
        kept_incidents = select(INC.c.id).where(or_(INC.c.state != "resolved", INC.c.updated_at >= before))
        cond = and_(T.c.kind.in_(list(kinds)), T.c.time < before, T.c.last_time < before,
                    or_(T.c.kind.in_(sorted(STATELESS_KINDS)), T.c.status != "firing"),
                    or_(T.c.incident_id.is_(None), T.c.incident_id.not_in(kept_incidents)))
        ids = select(T.c.id).where(cond).limit(limit)
        return conn.execute(delete(T).where(T.c.id.in_(ids))).rowcount or 0

    # --- reads ------------------------------------------------------------------------------------
    def list(
        self,
        *,
        service: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        until: float | None = None,
        incident_id: int | None = None,
        status: str | None = None,
        fingerprint: str | None = None,
        limit: int = 100,
        offset: int = 0,
        ascending: bool = False,
        conn: Connection | None = None,
    ) -> list[dict[str, Any]]:
        stmt = select(T)
        if service:
            stmt = stmt.where(T.c.service == service)
        if kind:  # one kind, or several comma-separated
            stmt = stmt.where(T.c.kind.in_(comma_values(kind)))
        if since is not None:
            stmt = stmt.where(T.c.time >= since)
        if until is not None:
            stmt = stmt.where(T.c.time < until)
        if incident_id is not None:
            stmt = stmt.where(T.c.incident_id == incident_id)
        if status:
            stmt = stmt.where(T.c.status.in_(comma_values(status)))
        if fingerprint:
            stmt = stmt.where(T.c.fingerprint == fingerprint)
        order = (T.c.time.asc(), T.c.id.asc()) if ascending else (T.c.time.desc(), T.c.id.desc())
        stmt = stmt.order_by(*order).limit(limit).offset(offset)
        if conn is not None:
            return [row_to_dict(r) for r in conn.execute(stmt)]
        with self.db.read() as c:
            return [row_to_dict(r) for r in c.execute(stmt)]

    def for_incident(
        self, incident_id: int, conn: Connection | None = None, limit: int = 100_000
    ) -> builtins.list[Any]:
        stmt = select(T).where(T.c.incident_id == incident_id).order_by(T.c.time, T.c.id).limit(limit)
        if conn is not None:
            return list(conn.execute(stmt))
        with self.db.read() as c:
            return list(c.execute(stmt))

    def firing_rule_alerts(self, limit: int = 100_000) -> builtins.list[Signal]:
        """The threshold rules' alerts still firing (``metric_anomaly`` from a ``rule:NAME`` source), oldest first."""
        stmt = (select(T).where(T.c.kind == "metric_anomaly", T.c.status == "firing", T.c.source.like("rule:%"))
                .order_by(T.c.time, T.c.id).limit(limit))
        with self.db.read() as c:
            return [row_to_signal(r) for r in c.execute(stmt)]

    def firing_alerts(self, source: str, limit: int = 100_000) -> builtins.list[Signal]:
        """The alerts of ``source`` still firing, oldest first."""
        stmt = (select(T).where(T.c.kind == "alert", T.c.status == "firing", T.c.source == source)
                .order_by(T.c.time, T.c.id).limit(limit))
        with self.db.read() as c:
            return [row_to_signal(r) for r in c.execute(stmt)]

    def get_many(self, ids: Sequence[int], conn: Connection) -> builtins.list[Any]:
        out: builtins.list[Any] = []
        for batch in chunks(list(ids), 500):
            out.extend(conn.execute(select(T).where(T.c.id.in_(batch))))
        return out

    def count(self, **filters: Any) -> int:
        stmt = select(func.count()).select_from(T)
        for name, value in filters.items():
            if value is not None:
                stmt = stmt.where(T.c[name] == value)
        with self.db.read() as c:
            return int(c.execute(stmt).scalar_one())

    def total_occurrences(self) -> int:
        with self.db.read() as c:
            return int(c.execute(select(func.coalesce(func.sum(T.c.count), 0))).scalar_one())
