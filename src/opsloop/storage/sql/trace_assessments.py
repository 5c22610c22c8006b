"""Feedback and expectations on MLflow 3 traces (MLflow's assessments) in SQL.

An assessment that ``overrides`` another marks that one invalid; deleting the override makes it valid again,
as in MLflow's own server. What MLflow's client sends besides the name and ids (``source``, ``feedback`` or
``expectation``, ``rationale``, ``metadata``, ``span_id``, ``run_id``) is kept as one JSON object.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking.entities import Assessment
from opsloop.storage.sql._dialect import chunks
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_traces import trace_assessments, trace_info

__all__ = ["KINDS", "SqlAssessmentStore", "load_assessments"]

KINDS = ("feedback", "expectation")
_MAX_NAME = 250
_A = trace_assessments.c


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise InvalidInputError(f"An assessment name must be 1 to {_MAX_NAME} characters", field="assessment_name")
    return name


def _kind(body: Mapping[str, Any]) -> str:
    kinds = [k for k in KINDS if body.get(k) is not None]
    if len(kinds) != 1:
        raise InvalidInputError("An assessment needs exactly one of 'feedback' and 'expectation'",
                                field="assessment")
    return kinds[0]


def _entity(r: Any) -> Assessment:
    return Assessment(r.assessment_id, r.trace_id, r.name, r.create_time, r.last_update_time, json.loads(r.body),
                      r.valid, r.overrides)


def load_assessments(conn: Connection, trace_ids: Sequence[str]) -> dict[str, list[Assessment]]:
    """The assessments of each of ``trace_ids``, oldest first."""
    out: dict[str, list[Assessment]] = {}
    for batch in chunks(trace_ids, 500):
        for r in conn.execute(select(trace_assessments).where(_A.trace_id.in_(batch))
                              .order_by(_A.create_time, _A.assessment_id)):
            out.setdefault(r.trace_id, []).append(_entity(r))
    return out


def _new_id() -> str:
    """``a-`` and 32 hex digits, as MLflow's; the first 16 are the creation time in nanoseconds, so two
    assessments made within one millisecond (``create_time``) still list oldest first."""
    return f"a-{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


class SqlAssessmentStore:
    """Create, read, update and delete the assessments of traces."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_assessment(self, trace_id: str, name: object, body: dict[str, Any],
                          overrides: str | None = None) -> Assessment:
        _kind(body)
        now, assessment_id = _now_ms(), _new_id()
        row = {"assessment_id": assessment_id, "trace_id": trace_id, "name": _check_name(name), "create_time": now,
               "last_update_time": now, "valid": True, "overrides": overrides or None, "body": json.dumps(body)}
        with self.db.write() as conn:
            if conn.execute(select(trace_info.c.trace_id).where(trace_info.c.trace_id == trace_id)).first() is None:
                raise NotFoundError(f"Trace with ID '{trace_id}' not found.", field="trace_id")
            if overrides:
                self._row(conn, trace_id, overrides, field="overrides")
                conn.execute(update(trace_assessments).where(_A.assessment_id == overrides).values(valid=False))
            conn.execute(trace_assessments.insert().values(**row))
            return _entity(self._row(conn, trace_id, assessment_id))

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        with self.db.read() as conn:
            return _entity(self._row(conn, trace_id, assessment_id))

    def update_assessment(self, trace_id: str, assessment_id: str, name: object = None,
                          changes: Mapping[str, Any] | None = None) -> Assessment:
        """Rename, and replace body fields (``feedback``/``expectation`` only with the same kind); ``metadata``
        is merged into the stored one. The source, span and times of creation stay."""
        changes = dict(changes or {})
        with self.db.write() as conn:
            current = _entity(self._row(conn, trace_id, assessment_id))
            body = dict(current.body)
            for kind in KINDS:
                if changes.get(kind) is not None and kind not in body:
                    raise InvalidInputError(f"Cannot update the {kind} of a {_kind(body)} assessment", field=kind)
            metadata = {**(body.get("metadata") or {}), **(changes.pop("metadata", None) or {})}
            body.update({k: v for k, v in changes.items() if v is not None})
            if metadata:
                body["metadata"] = metadata
            values = {"body": json.dumps(body), "last_update_time": _now_ms()}
            if name is not None:
                values["name"] = _check_name(name)
            conn.execute(update(trace_assessments).where(_A.assessment_id == assessment_id).values(**values))
            return _entity(self._row(conn, trace_id, assessment_id))

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; one that does not exist is already deleted (MLflow's server answers OK too)."""
        with self.db.write() as conn:
            row = conn.execute(select(_A.overrides).where(_A.assessment_id == assessment_id,
                                                          _A.trace_id == trace_id)).first()
            if row is None:
                return
            overrides = row.overrides
            conn.execute(delete(trace_assessments).where(_A.assessment_id == assessment_id))
            if overrides:  # the overridden assessment counts again
                conn.execute(update(trace_assessments).where(_A.assessment_id == overrides).values(valid=True))

    @staticmethod
    def _row(conn: Connection, trace_id: str, assessment_id: str, field: str = "assessment_id") -> Any:
        row = conn.execute(select(trace_assessments).where(_A.assessment_id == assessment_id,
                                                           _A.trace_id == trace_id)).first()
        if row is None:
            raise NotFoundError(f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'.",
                                field=field)
        return row
