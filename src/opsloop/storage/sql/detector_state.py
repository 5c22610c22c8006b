"""The SQL store of metric detector checkpoints: one row per watched series, written when it changed.

A series' checkpoint ends with what it learned, one JSON string (``learned``, most of the row): ``load``
reads a row up to it and leaves it to be decoded when asked for, when the series is built, so a start
with many checkpointed series reads little more than their labels.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import delete, select

from opsloop.storage.sql._dialect import chunks, upsert_many
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_aiops import aiops_detector_state as D

__all__ = ["SqlDetectorStateStore", "series_key"]

_LEARNED = ',"learned":"'  # how a row written by ``save`` from ``MetricWatch``'s checkpoint goes on after its head
_MEMBER = '":"'  # between a member's name and its string value; never inside a JSON string (its quotes are escaped)


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

    def load(self) -> list[Mapping[str, Any]]:
        """Every stored checkpoint, the least recently written first; unreadable rows are skipped. A
        checkpoint whose last member is ``learned`` (a string) is read up to it, and that string decoded
        when read: a row that does not read past its head gives the rest of its text, from which no
        series is built either (``MetricWatch.restore``)."""
        with self.db.read() as conn:  # sorted here: the database would sort the whole rows
            found = sorted(conn.execute(select(D.c.state, D.c.updated_at)).all(), key=itemgetter(1))
        return [item for item in (_read(text) for text, _ in found) if item is not None]

    def delete(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Forget the checkpoints of these series."""
        self.save((), [item["labels"] for item in items])


def _read(row: str) -> Mapping[str, Any] | None:
    """A stored checkpoint, up to ``learned`` when that is its last member (as ``save`` writes one)."""
    item: Any = None
    at = row.find(_LEARNED)
    # no member with a string value after it; rfind runs over the learned part in C
    if at > 0 and row.endswith('"}') and row.rfind(_MEMBER) == at + _LEARNED.index(_MEMBER):
        with suppress(orjson.JSONDecodeError):  # else that was inside a member: read the row in full
            item = _Checkpoint(orjson.loads(row[:at] + "}"), row, at + len(_LEARNED) - 1)
    if item is None:
        with suppress(orjson.JSONDecodeError):
            item = orjson.loads(row)
    return item if isinstance(item, Mapping) and isinstance(item.get("labels"), list) else None


class _Checkpoint(Mapping[str, Any]):
    """A checkpoint read up to its last member, ``learned`` (a JSON string), decoded from its row when read."""

    __slots__ = ("_head", "_row", "_at")

    def __init__(self, head: dict[str, Any], row: str, at: int) -> None:
        self._head, self._row, self._at = head, row, at

    def __getitem__(self, key: str) -> Any:
        if key != "learned":
            return self._head[key]
        text = self._row[self._at:-1]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text  # the row does not read: no series is built from this either

    def get(self, key: str, default: Any = None) -> Any:  # what a restore asks for, without a KeyError
        return self[key] if key == "learned" else self._head.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key == "learned" or key in self._head

    def __iter__(self) -> Iterator[str]:
        yield from self._head
        yield "learned"

    def __len__(self) -> int:
        return len(self._head) + 1
