"""The SQL store of metric detector checkpoints: one row per watched series, written when it changed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import delete, select

from opsloop.storage.sql._dialect import chunks, upsert_many
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_aiops import aiops_detector_state as D

__all__ = ["SqlDetectorStateStore", "series_key"]


def series_key(labels: Iterable[Sequence[str]]) -> str:
    """The row key of a series: a digest of its sorted ``[name, value]`` label pairs."""
    return hashlib.sha1(orjson.dumps(sorted([str(k), str(v)] for k, v in labels))).hexdigest()


class SqlDetectorStateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, changed: Sequence[Mapping[str, Any]], gone: Sequence[Iterable[Sequence[str]]] = ()) -> None:
        """Upsert the checkpoints of ``changed`` series and delete those of the ``gone`` ones, in one
        transaction (a crash leaves the previous checkpoint of every series, never half of one)."""
        now = time.time()
        rows = [(series_key(item["labels"]), str(item["rule"]), orjson.dumps(item).decode(), now) for item in changed]
        keys = [series_key(labels) for labels in gone]
        if not rows and not keys:
            return
        with self.db.write() as conn:
            for batch in chunks(keys, 500):
                conn.execute(delete(D).where(D.c.key.in_(batch)))
            for rows_batch in chunks(rows, 200):
                upsert_many(conn, D, ("key", "rule", "state", "updated_at"), ("key",), ("rule", "state", "updated_at"),
                            rows_batch)

    def load(self) -> list[dict[str, Any]]:
        """Every stored checkpoint, the least recently written first (unreadable rows are skipped)."""
        with self.db.read() as conn:  # sorted here: the database would sort the whole rows
            found = sorted(conn.execute(select(D.c.state, D.c.updated_at)).all(), key=itemgetter(1))
        out = []
        for text, _ in found:
            try:
                item = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(item, dict) and isinstance(item.get("labels"), list):
                out.append(item)
        return out

    def delete(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Forget the checkpoints of these series."""
        self.save((), [item["labels"] for item in items])
