"""A ``MonitoringStore`` on SQLAlchemy (SQLite by default; PostgreSQL through the same tables)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from opsloop.core.signals import Severity, Signal
from opsloop.errors import StorageError
from opsloop.mlops.monitoring import tables as t
from opsloop.mlops.monitoring.records import DriftReport, GroundTruth, PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore, revised
from opsloop.storage.sql._dialect import insert_ignore, upsert

if TYPE_CHECKING:
    from opsloop.storage.sql.engine import Database

__all__ = ["SqlMonitoringStore"]

_REQUEST_ID_WIDTH = 128  # String(128) of samples.request_id and labels.request_id (tables.py)


def _request_key(request_id: str) -> str:
    """A client's x-request-id as stored: the column holds 128 characters, and a longer id (one request's
    samples and its labels alike) is kept to those, so it neither fails the write nor misses its labels."""
    return request_id[:_REQUEST_ID_WIDTH]


def _dumps(v: Any) -> str:
    return json.dumps(v, default=lambda o: o.item() if hasattr(o, "item") else str(o))


def _signal_from(doc: dict[str, Any]) -> Signal:
    return Signal(time=doc["time"], source=doc["source"], kind=doc["kind"], service=doc["service"],
                  labels=doc["labels"], severity=Severity.parse(doc["severity"]), text=doc["text"],
                  values=doc["values"], status=doc["status"], evidence=doc["evidence"])


class SqlMonitoringStore(MonitoringStore):
    """Monitoring tables in any SQLAlchemy database; several processes may share one SQLite file.

    Args:
        database: an SQLAlchemy URL (its own engine), or an open ``Database`` to share (the opsloop
            server passes its runtime's, so monitoring lives beside the registry). Missing tables are
            created either way (``tables.metadata``; creating them is idempotent).
    """

    def __init__(self, database: str | Database) -> None:
        from opsloop.storage.sql.engine import open_database

        where = database if isinstance(database, str) else database.engine.url.render_as_string(hide_password=True)
        try:
            # The shared engine set-up: WAL, busy timeout, and write transactions that take SQLite's
            # write lock up front (BEGIN IMMEDIATE), so several serving workers never fail on a lock.
            self.db = open_database(database, pool_size=4, migrate=False) if isinstance(database, str) else database
            self.engine = self.db.engine
            self._create_tables()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open monitoring store {where}: {exc}") from exc

    def _create_tables(self) -> None:
        try:
            with self.db.write() as conn:
                t.metadata.create_all(conn)
        except SQLAlchemyError:  # another process (a server worker) created them meanwhile: they exist now
            with self.db.write() as conn:
                t.metadata.create_all(conn)

    def _run(self, fn: Any) -> Any:
        try:
            with self.db.write() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"monitoring store failed: {exc}") from exc

    def add_samples(self, samples: Sequence[PredictionSample], *, max_per_model: int | None = None) -> None:
        """Store samples; a request id is kept to its column's width (as its labels are looked up)."""
        if not samples:
            return
        rows = [{"model": s.model, "request_id": _request_key(s.request_id), "row": s.row, "variant": s.variant,
                 "version": s.version, "time": s.time, "features": _dumps(s.features),
                 "prediction": _dumps(s.prediction)} for s in samples]

        def write(conn: sa.Connection) -> None:
            insert_ignore(conn, t.samples, rows)  # a request id sent twice keeps its first sample
            if max_per_model is None:
                return
            for model in {s.model for s in samples}:
                cutoff = conn.execute(sa.select(t.samples.c.id).where(t.samples.c.model == model)
                                      .order_by(t.samples.c.id.desc()).offset(max_per_model).limit(1)).scalar()
                if cutoff is not None:
                    conn.execute(t.samples.delete().where(t.samples.c.model == model, t.samples.c.id <= cutoff))

        self._run(write)

    def list_samples(self, model: str, *, variant: str | None = None, since: float | None = None,
                     limit: int | None = None, labelled_only: bool = False) -> list[PredictionSample]:
        s, lb = t.samples, t.labels
        join = s.join(lb, sa.and_(lb.c.model == s.c.model, lb.c.request_id == s.c.request_id,
                                  lb.c.row == s.c.row), isouter=not labelled_only)
        q = sa.select(s, lb.c.value).select_from(join).where(s.c.model == model).order_by(s.c.id.desc())
        if variant:
            q = q.where(s.c.variant == variant)
        if since is not None:
            q = q.where(s.c.time >= since)
        if limit is not None:
            q = q.limit(limit)
        rows = self._run(lambda conn: conn.execute(q).all())
        return [PredictionSample(model=r.model, request_id=r.request_id, row=r.row, time=r.time,
                                 features=json.loads(r.features), prediction=json.loads(r.prediction),
                                 variant=r.variant, version=r.version,
                                 label=json.loads(r.value) if r.value is not None else None) for r in rows]

    def count_samples(self, model: str) -> int:
        q = sa.select(sa.func.count()).select_from(t.samples).where(t.samples.c.model == model)
        return int(self._run(lambda conn: conn.execute(q).scalar()))

    def add_labels(self, labels: Sequence[GroundTruth]) -> int:
        if not labels:
            return 0
        now = time.time()
        # One upsert, so posts racing each other for a request row never both insert: PostgreSQL turns
        # the later one into an update of the row the first wrote. A row labelled twice in this post
        # keeps its last label (one statement cannot write a row twice), and the rows are written in
        # key order, so two posts of the same rows lock them in the same order (never a deadlock).
        last = {(g.model, _request_key(g.request_id), g.row): g for g in labels}
        rows = [{"model": g.model, "request_id": key[1], "row": g.row, "value": _dumps(g.value),
                 "time": g.time or now} for key, g in sorted(last.items(), key=lambda item: item[0])]

        def write(conn: sa.Connection) -> int:
            upsert(conn, t.labels, rows, keys=["model", "request_id", "row"], update=["value", "time"])
            matched = 0
            for g in labels:
                q = sa.select(sa.func.count()).select_from(t.samples).where(
                    t.samples.c.model == g.model, t.samples.c.request_id == _request_key(g.request_id),
                    t.samples.c.row == g.row)
                matched += bool(conn.execute(q).scalar())
            return matched

        return int(self._run(write))

    def save_reference(self, model: str, profile: dict[str, Any]) -> None:
        # One statement, so saves racing each other (the first ones too) never both insert: PostgreSQL
        # turns the second into an update of the row the first wrote (its lock held until then).
        row = {"model": model, "profile": _dumps(revised(profile)), "time": time.time()}
        self._run(lambda conn: upsert(conn, t.references, [row], keys=["model"], update=["profile", "time"]))

    def replace_reference(self, model: str, profile: dict[str, Any], *, revision: str | None) -> bool:
        def write(conn: sa.Connection) -> bool:
            # SQLite: the write transaction holds the database's write lock from its start (BEGIN
            # IMMEDIATE); PostgreSQL: the row is locked until the end (a concurrent save_reference,
            # an upsert of the same row, waits for it, or has written before and changed the revision).
            q = sa.select(t.references.c.profile).where(t.references.c.model == model).with_for_update()
            raw = conn.execute(q).scalar()
            if raw is None or json.loads(raw).get("revision") != revision:
                return False
            conn.execute(t.references.update().where(t.references.c.model == model).values(
                profile=_dumps(revised(profile)), time=time.time()))
            return True

        return bool(self._run(write))

    def get_reference(self, model: str) -> dict[str, Any] | None:
        q = sa.select(t.references.c.profile).where(t.references.c.model == model)
        raw = self._run(lambda conn: conn.execute(q).scalar())
        return json.loads(raw) if raw else None

    def reference_models(self) -> list[str]:
        q = sa.select(t.references.c.model).order_by(t.references.c.model)
        return list(self._run(lambda conn: conn.execute(q).scalars().all()))

    def add_drift_report(self, report: DriftReport) -> None:
        self._run(lambda conn: conn.execute(t.drift_reports.insert().values(
            model=report.model, time=report.time, report=_dumps(report.to_dict()))))

    def list_drift_reports(self, model: str, *, limit: int = 10) -> list[DriftReport]:
        q = (sa.select(t.drift_reports.c.report).where(t.drift_reports.c.model == model)
             .order_by(t.drift_reports.c.id.desc()).limit(limit))
        return [DriftReport.from_dict(json.loads(r)) for r in self._run(lambda conn: conn.execute(q).scalars().all())]

    def add_signal(self, signal: Signal) -> None:
        doc = signal.to_dict()
        self._run(lambda conn: conn.execute(t.signals.insert().values(
            time=signal.time, kind=str(signal.kind), model=signal.labels.get("model", ""),
            fingerprint=doc["fingerprint"], status=signal.status, body=_dumps(doc))))

    def list_signals(self, *, model: str | None = None, kind: str | None = None, since: float | None = None,
                     limit: int = 100) -> list[Signal]:
        q = sa.select(t.signals.c.body).order_by(t.signals.c.id.desc()).limit(limit)
        if model is not None:
            q = q.where(t.signals.c.model == model)
        if kind is not None:
            q = q.where(t.signals.c.kind == kind)
        if since is not None:
            q = q.where(t.signals.c.time >= since)
        return [_signal_from(json.loads(b)) for b in self._run(lambda conn: conn.execute(q).scalars().all())]

