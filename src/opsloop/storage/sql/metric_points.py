"""The SQL metric sample store: every ingested sample of every series, for a retention window.

Series are named by the fingerprint of their ``metric`` row in the signal store. A sample re-sent
with the same timestamp replaces the earlier value (Prometheus' semantics for a series); counts that
several processes take of the same interval (``add``) are summed instead. Reads
return the raw samples or, past ``max_points``, time buckets with their mean, min and max, so a chart
of a week of 15-second samples stays a few hundred points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Integer, cast, delete, func, select

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.storage.sql._dialect import chunks, like_escape, upsert_many
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_aiops import aiops_metric_points as P
from opsloop.storage.sql.schema_aiops import aiops_signals as S

__all__ = ["SqlMetricPointStore"]

MAX_POINTS = 10_000


class SqlMetricPointStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, samples: Sequence[tuple[str, float, float]]) -> int:
        """Store ``(series, time, value)`` samples; the last value for a (series, time) wins."""
        rows: dict[tuple[str, float], float | None] = {}
        for series, time, value in samples:
            value = float(value)
            rows[(series, float(time))] = None if math.isnan(value) else value
        if not rows:
            return 0
        with self.db.write() as conn:
            for batch in chunks(((s, t, v) for (s, t), v in rows.items()), 2000):
                upsert_many(conn, P, ("series", "time", "value"), ("series", "time"), ("value",), batch)
        return len(rows)

    def add(self, samples: Sequence[tuple[str, float, float]]) -> int:
        """Store ``(series, time, count)`` samples, adding each to the value already stored for its
        (series, time): the counts of one interval taken by several processes (workers, or one server
        before and after a restart) sum to the total. One statement for the batch, as ``append``."""
        rows: dict[tuple[str, float], float] = {}
        for series, time, value in samples:
            key = (series, float(time))
            rows[key] = rows.get(key, 0.0) + float(value)
        if not rows:
            return 0
        with self.db.write() as conn:
            for batch in chunks(((s, t, v) for (s, t), v in rows.items()), 2000):
                upsert_many(conn, P, ("series", "time", "value"), ("series", "time"), (), batch, add=("value",))
        return len(rows)

    def points(self, series: str, *, start: float | None = None, end: float | None = None,
               max_points: int = 1000) -> dict[str, Any]:
        """Samples of one series in ``[start, end]``, oldest first, at most ``max_points`` of them."""
        if not 1 <= max_points <= MAX_POINTS:
            raise InvalidInputError(f"max_points must be between 1 and {MAX_POINTS}", field="max_points")
        if start is not None and end is not None and end < start:
            raise InvalidInputError("end is before start", field="end")
        where = [P.c.series == series]
        if start is not None:
            where.append(P.c.time >= start)
        if end is not None:
            where.append(P.c.time <= end)
        with self.db.read() as conn:
            count, lo, hi = conn.execute(select(func.count(), func.min(P.c.time), func.max(P.c.time)).where(*where)).one()
            if count <= max_points:
                raw = conn.execute(select(P.c.time, P.c.value).where(*where).order_by(P.c.time)).all()
                return {"series": series, "count": count, "bucket_s": None,
                        "points": [[t, v] for t, v in raw]}
            # A hair wider than span/max_points so the newest sample falls in the last bucket, not past it.
            width = max((hi - lo) / max_points * (1 + 1e-9), 1e-9)
            offset = (P.c.time - lo) / width
            bucket = func.floor(offset) if conn.dialect.name == "postgresql" else cast(offset, Integer)
            stmt = (select(bucket.label("b"), func.min(P.c.time), func.avg(P.c.value), func.min(P.c.value),
                           func.max(P.c.value)).where(*where).group_by("b").order_by("b"))
            rows = conn.execute(stmt).all()
        return {"series": series, "count": count, "bucket_s": width,
                "points": [[t, _num(mean), _num(low), _num(high)] for _b, t, mean, low, high in rows]}

    def series(self, *, name: str | None = None, service: str | None = None, limit: int = 200,
               offset: int = 0) -> list[dict[str, Any]]:
        """Known series (their ``metric`` rows), by name then labels; ``name`` matches a substring."""
        stmt = _SERIES
        if name:
            stmt = stmt.where(S.c.text.like(f"%{like_escape(name)}%", escape="\\"))
        if service:
            stmt = stmt.where(S.c.service == service)
        stmt = stmt.order_by(S.c.text, S.c.service, S.c.fingerprint).limit(limit).offset(offset)
        with self.db.read() as conn:
            return [_series_json(row) for row in conn.execute(stmt).all()]

    def series_by_fingerprint(self, fingerprint: str) -> dict[str, Any]:
        """The series ``fingerprint`` names, as ``series`` lists it.

        Raises:
            NotFoundError: no metric series has that fingerprint.
        """
        with self.db.read() as conn:
            row = conn.execute(_SERIES.where(S.c.fingerprint == fingerprint).order_by(S.c.last_time.desc())).first()
        if row is None:
            raise NotFoundError(f"No metric series with fingerprint {fingerprint!r}", field="fingerprint")
        return _series_json(row)

    def prune(self, before: float) -> int:
        """Drop samples older than ``before`` (epoch seconds); returns how many went."""
        with self.db.write() as conn:
            return conn.execute(delete(P).where(P.c.time < before)).rowcount or 0


_SERIES = select(S.c.fingerprint, S.c.text, S.c.service, S.c.labels, S.c.last_time, S.c["values"], S.c.count,
                 S.c.source).where(S.c.kind == "metric")


def _series_json(row: Sequence[Any]) -> dict[str, Any]:
    fp, text, service, labels, time, values, count, source = row
    return {"series": fp, "name": text, "service": service, "labels": orjson.loads(labels), "last_time": time,
            "last_value": orjson.loads(values).get("value"), "samples_seen": count, "source": source}


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
