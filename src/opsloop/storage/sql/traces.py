"""MLflow 3 trace infos in SQL (SQLite or PostgreSQL): record, look up, search, tag and delete.

The store keeps what MLflow calls a ``TraceInfo``; the spans themselves are the ``traces.json``
artifact the client uploads below the ``mlflow.artifactLocation`` tag this store sets, so a trace's
span data follows its experiment's artifact location as in MLflow's own server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, Select, delete, select

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking.entities import TraceInfo
from opsloop.mlops.tracking.lifecycle import require_active
from opsloop.mlops.tracking.search import Clause, FilterParser, decode_page_token, encode_page_token
from opsloop.storage.sql._dialect import upsert
from opsloop.storage.sql._run_query import compare
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_traces import trace_assessments, trace_info, trace_metadata, trace_tags
from opsloop.storage.sql.trace_assessments import load_assessments
from opsloop.storage.sql.tracking import SqlTrackingStore

__all__ = ["ARTIFACT_LOCATION_TAG", "TRACE_STATES", "SqlTraceStore"]

TRACE_STATES = ("STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS")
ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation"
# Where the spans are is the server's business: clients cannot set or remove these tags.
_RESERVED_TAGS = frozenset({ARTIFACT_LOCATION_TAG, "mlflow.trace.spansLocation"})
_TRACE_NAME_TAG = "mlflow.traceName"
_SOURCE_RUN_METADATA = "mlflow.sourceRun"
# MLflow truncates rather than rejects long trace tags and metadata (its client documents this).
_MAX_KEY, _MAX_VALUE = 250, 8000
MAX_SEARCH_RESULTS = 50000
_INT64 = 2**63
_TRACE_ID = re.compile(r"^[\w.:-]{1,128}$", re.ASCII)


# -- the search grammar: MLflow's trace filter and order_by keys ----------------------------------------

_ENTITIES = {"attribute": "attribute", "attributes": "attribute", "attr": "attribute", "trace": "attribute",
             "tag": "tag", "tags": "tag", "metadata": "metadata", "request_metadata": "metadata"}
_UNSUPPORTED_ENTITIES = {"span", "spans", "feedback", "expectation", "assessment", "assessments", "issue",
                         "metric", "metrics", "param", "params", "dataset", "datasets"}
# filter/order key → the name used below: a column, a derived value, or a tag/metadata key in disguise.
_ATTRIBUTES = {
    "request_id": "trace_id", "trace_id": "trace_id", "client_request_id": "client_request_id",
    "timestamp": "timestamp_ms", "timestamp_ms": "timestamp_ms", "execution_time": "execution_time_ms",
    "execution_time_ms": "execution_time_ms", "end_time": "end_time_ms", "end_time_ms": "end_time_ms",
    "status": "state", "state": "state", "name": "name", "run_id": "run_id", "experiment_id": "experiment_id",
}
_NUMERIC = {"timestamp_ms", "execution_time_ms", "end_time_ms"}
_KEYED_ATTRIBUTES = {"name": ("tag", _TRACE_NAME_TAG), "run_id": ("metadata", _SOURCE_RUN_METADATA)}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        return text[1:-1]
    return text


def _split_identifier(ident: str, field_name: str) -> tuple[str, str]:
    m = re.match(r"^([A-Za-z_]\w*)\.(.+)$", ident)
    if m:
        prefix = m.group(1).lower()
        if prefix in _ENTITIES:
            return _ENTITIES[prefix], _unquote(m.group(2))
        if prefix in _UNSUPPORTED_ENTITIES:
            raise InvalidInputError(f"Searching traces by {prefix} is not supported", field=field_name)
    return "attribute", _unquote(ident)


class _TraceFilter(FilterParser):
    """MLflow's filter grammar with the trace identifiers (``tags.``, ``metadata.``, ``trace.``)."""

    def clause(self) -> Clause:
        kind, ident = self.take()
        if kind != "ident":
            raise self.error(f"expected an identifier, got {ident!r}")
        entity, key = _split_identifier(ident, "filter")
        op = self.comparator()
        clause = self.checked(Clause(entity, key, op, self.value(op)))
        if clause.entity == "attribute" and clause.key == "experiment_id":
            raise self.error("filter on experiment_id is not supported; search the experiment instead")
        return clause


def parse_trace_filter(text: str | None) -> list[Clause]:
    if text is None or not text.strip():
        return []
    return _TraceFilter(text, _ATTRIBUTES, _NUMERIC).clauses()


def _keyed(table, key: str, clause: Clause) -> ColumnElement:  # noqa: ANN001
    c = table.c
    has_key = select(c.trace_id).where(c.key == key)
    if clause.op == "IS NOT NULL":
        return trace_info.c.trace_id.in_(has_key)
    if clause.op == "IS NULL":
        return trace_info.c.trace_id.not_in(has_key)
    return trace_info.c.trace_id.in_(has_key.where(compare(c.value, clause.op, clause.value)))


def _column(key: str) -> ColumnElement:
    ti = trace_info.c
    if key == "timestamp_ms":
        return ti.request_time
    if key == "execution_time_ms":
        return ti.execution_duration
    if key == "end_time_ms":
        return ti.request_time + ti.execution_duration
    return ti[key]


def _where(clause: Clause) -> ColumnElement:
    if clause.entity in ("tag", "metadata"):
        return _keyed(trace_tags if clause.entity == "tag" else trace_metadata, clause.key, clause)
    if clause.key in _KEYED_ATTRIBUTES:
        entity, key = _KEYED_ATTRIBUTES[clause.key]
        return _keyed(trace_tags if entity == "tag" else trace_metadata, key, clause)
    value = clause.value
    if isinstance(value, float):
        if not -_INT64 < value < _INT64:
            raise InvalidInputError(f"Value {value!r} for {clause.key!r} is out of range", field="filter")
        value = int(value) if value.is_integer() else value
    return compare(_column(clause.key), clause.op, value)


def _order(query: Select, order_by: Sequence[str]) -> Select:
    cols: list[ColumnElement] = []
    by_time = False
    for i, raw in enumerate(order_by):
        m = re.match(r"^\s*(.+?)(?:\s+(ASC|DESC))?\s*$", raw, re.IGNORECASE) if isinstance(raw, str) else None
        if m is None:
            raise InvalidInputError(f"Invalid order_by clause {raw!r}", field="order_by")
        entity, key = _split_identifier(m.group(1), "order_by")
        if entity == "attribute":
            if key not in _ATTRIBUTES:
                raise InvalidInputError(f"Invalid order_by clause {raw!r}: unknown attribute {key!r}",
                                        field="order_by")
            key = _ATTRIBUTES[key]
            entity, key = _KEYED_ATTRIBUTES.get(key, (entity, key))
        if entity == "attribute":
            col = _column(key)
            by_time = by_time or key == "timestamp_ms"
        else:
            alias = (trace_tags if entity == "tag" else trace_metadata).alias(f"o{i}")
            query = query.outerjoin(alias, (alias.c.trace_id == trace_info.c.trace_id) & (alias.c.key == key))
            col = alias.c.value
        descending = bool(m.group(2)) and m.group(2).upper() == "DESC"
        cols += [col.is_(None), col.desc() if descending else col.asc()]
    if not by_time:
        cols.append(trace_info.c.request_time.desc())
    return query.order_by(*cols, trace_info.c.trace_id.asc())


# -- the store -----------------------------------------------------------------------------------------

def _trimmed(pairs: dict[str, str]) -> dict[str, str]:
    return {k[:_MAX_KEY]: v[:_MAX_VALUE] for k, v in pairs.items()}


def _kv_rows(trace_id: str, pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"trace_id": trace_id, "key": k, "value": v} for k, v in pairs.items()]


class SqlTraceStore:
    """Trace infos with MLflow's semantics, over ``trace_info``, ``trace_tags`` and ``trace_metadata``."""

    def __init__(self, db: Database, tracking: SqlTrackingStore) -> None:
        self.db = db
        self.tracking = tracking

    def start_trace(self, info: TraceInfo) -> TraceInfo:
        """Record a finished (or in-progress) trace; recording the same trace id again updates it.

        The returned info carries ``mlflow.artifactLocation``: where the client uploads the spans.
        """
        if info.state not in TRACE_STATES:
            raise InvalidInputError(f"Invalid trace state {info.state!r}", field="state")
        # The id becomes a folder of the artifact location, so it must be one safe path segment.
        if not _TRACE_ID.match(info.trace_id) or set(info.trace_id) == {"."}:
            raise InvalidInputError("A trace id must be 1 to 128 letters, digits or '_.:-'", field="trace_id")
        experiment = self.tracking.get_experiment(info.experiment_id)
        require_active("experiment", experiment.experiment_id, experiment.lifecycle_stage, "experiment_id")
        tags = {k: v for k, v in _trimmed(info.tags).items() if k not in _RESERVED_TAGS}
        tags[ARTIFACT_LOCATION_TAG] = f"{experiment.artifact_location.rstrip('/')}/traces/{info.trace_id}/artifacts"
        row = {
            "trace_id": info.trace_id, "experiment_id": int(experiment.experiment_id),
            "client_request_id": (info.client_request_id or None) and info.client_request_id[:_MAX_KEY],
            "request_time": info.request_time, "execution_duration": info.execution_duration,
            "state": info.state, "request_preview": info.request_preview, "response_preview": info.response_preview,
        }
        with self.db.write() as conn:
            existing = conn.execute(select(trace_info.c.experiment_id).where(
                trace_info.c.trace_id == info.trace_id)).first()
            if existing is not None and existing[0] != row["experiment_id"]:
                raise InvalidInputError(f"Trace {info.trace_id!r} belongs to another experiment",
                                        field="trace_location")
            upsert(conn, trace_info, [row], ["trace_id"], [k for k in row if k != "trace_id"])
            upsert(conn, trace_tags, _kv_rows(info.trace_id, tags), ["trace_id", "key"], ["value"])
            upsert(conn, trace_metadata, _kv_rows(info.trace_id, _trimmed(info.trace_metadata)),
                   ["trace_id", "key"], ["value"])
            return self._load(conn, [info.trace_id])[0]

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        with self.db.read() as conn:
            found = self._load(conn, [trace_id])
        if not found:
            raise NotFoundError(f"Trace with ID '{trace_id}' not found.", field="trace_id")
        return found[0]

    def batch_get_trace_infos(self, trace_ids: Sequence[str],
                              experiment_ids: Sequence[object] | None = None) -> list[TraceInfo]:
        """The infos of those ``trace_ids`` that exist (and are in ``experiment_ids``, if given)."""
        with self.db.read() as conn:
            found = self._load(conn, list(dict.fromkeys(trace_ids)))
        if experiment_ids is not None:
            wanted = {str(e) for e in experiment_ids}
            found = [t for t in found if t.experiment_id in wanted]
        return found

    def search_traces(self, experiment_ids: Sequence[object], filter_string: str | None = None,
                      max_results: int = 100, order_by: Sequence[str] | None = None,
                      page_token: str | None = None) -> tuple[list[TraceInfo], str | None]:
        """Traces of the experiments that match the filter, newest first unless ``order_by`` says otherwise."""
        if not 1 <= max_results <= MAX_SEARCH_RESULTS:
            raise InvalidInputError(f"max_results must be between 1 and {MAX_SEARCH_RESULTS}", field="max_results")
        ids = []
        for e in experiment_ids:
            try:
                ids.append(int(str(e)))
            except ValueError:
                raise InvalidInputError(f"Invalid experiment id {e!r}", field="experiment_ids") from None
        offset = decode_page_token(page_token)
        if offset >= _INT64:
            raise InvalidInputError("Invalid page token", field="page_token")
        query = select(trace_info.c.trace_id).where(trace_info.c.experiment_id.in_(ids))
        for clause in parse_trace_filter(filter_string):
            query = query.where(_where(clause))
        query = _order(query, list(order_by or [])).offset(offset).limit(max_results + 1)
        with self.db.read() as conn:
            found = [r[0] for r in conn.execute(query)]
            infos = self._load(conn, found[:max_results])
        token = encode_page_token(offset + max_results) if len(found) > max_results else None
        return infos, token

    @staticmethod
    def _check_tag_key(key: str) -> None:
        if not key:
            raise InvalidInputError("A trace tag key must not be empty", field="key")
        if key in _RESERVED_TAGS:
            raise InvalidInputError(f"Trace tag {key!r} is set by the server and cannot be changed", field="key")

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self._check_tag_key(key)
        with self.db.write() as conn:
            self._require(conn, trace_id)
            upsert(conn, trace_tags, _kv_rows(trace_id, _trimmed({key: value})), ["trace_id", "key"], ["value"])

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self._check_tag_key(key)
        with self.db.write() as conn:
            self._require(conn, trace_id)
            gone = conn.execute(delete(trace_tags).where(trace_tags.c.trace_id == trace_id,
                                                         trace_tags.c.key == key)).rowcount
        if not gone:
            raise NotFoundError(f"No trace tag with key '{key}' for trace with ID '{trace_id}'", field="key")

    def delete_traces(self, experiment_id: object, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None, trace_ids: Sequence[str] | None = None) -> dict[str, str | None]:
        """Delete the experiment's traces older than a time (oldest first, at most ``max_traces``) or by id.

        Returns each deleted trace id with its artifact location, so the caller can drop the span data.
        """
        if (max_timestamp_millis is None) == (not trace_ids):
            raise InvalidInputError("Exactly one of max_timestamp_millis and request_ids must be given",
                                    field="max_timestamp_millis" if trace_ids else "request_ids")
        if max_traces is not None and (trace_ids or max_traces <= 0):
            raise InvalidInputError("max_traces must be positive and only comes with max_timestamp_millis",
                                    field="max_traces")
        if max_timestamp_millis is not None and not -_INT64 <= max_timestamp_millis < _INT64:
            raise InvalidInputError("max_timestamp_millis is out of range", field="max_timestamp_millis")
        if max_traces is not None and max_traces >= _INT64:
            raise InvalidInputError("max_traces is out of range", field="max_traces")
        experiment = self.tracking.get_experiment(experiment_id)
        ti = trace_info.c
        query = select(ti.trace_id).where(ti.experiment_id == int(experiment.experiment_id))
        if trace_ids:
            query = query.where(ti.trace_id.in_(list(trace_ids)))
        else:
            query = query.where(ti.request_time <= max_timestamp_millis).order_by(ti.request_time, ti.trace_id)
            if max_traces is not None:
                query = query.limit(max_traces)
        with self.db.write() as conn:
            doomed = [r[0] for r in conn.execute(query)]
            locations = self._artifact_locations(conn, doomed)
            for batch in (doomed[i:i + 500] for i in range(0, len(doomed), 500)):
                for table in (trace_tags, trace_metadata, trace_assessments):
                    conn.execute(delete(table).where(table.c.trace_id.in_(batch)))
                conn.execute(delete(trace_info).where(ti.trace_id.in_(batch)))
        return {trace_id: locations.get(trace_id) for trace_id in doomed}

    # -- reading rows back ----------------------------------------------------------------------------

    @staticmethod
    def _require(conn: Connection, trace_id: str) -> None:
        if conn.execute(select(trace_info.c.trace_id).where(trace_info.c.trace_id == trace_id)).first() is None:
            raise NotFoundError(f"Trace with ID '{trace_id}' not found.", field="trace_id")

    @staticmethod
    def _artifact_locations(conn: Connection, trace_ids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for batch in (trace_ids[i:i + 500] for i in range(0, len(trace_ids), 500)):
            rows = conn.execute(select(trace_tags.c.trace_id, trace_tags.c.value).where(
                trace_tags.c.trace_id.in_(batch), trace_tags.c.key == ARTIFACT_LOCATION_TAG))
            out.update((trace_id, value) for trace_id, value in rows)
        return out

    @staticmethod
    def _load(conn: Connection, trace_ids: list[str]) -> list[TraceInfo]:
        if not trace_ids:
            return []
        by_id = {
            r.trace_id: TraceInfo(r.trace_id, str(r.experiment_id), r.request_time, r.state, r.execution_duration,
                                  r.client_request_id, r.request_preview, r.response_preview)
            for r in conn.execute(select(trace_info).where(trace_info.c.trace_id.in_(trace_ids)))
        }
        for table, attr in ((trace_tags, "tags"), (trace_metadata, "trace_metadata")):
            rows = conn.execute(select(table.c.trace_id, table.c.key, table.c.value)
                                .where(table.c.trace_id.in_(list(by_id))))
            for trace_id, key, value in rows:
                getattr(by_id[trace_id], attr)[key] = value
        for trace_id, assessments in load_assessments(conn, list(by_id)).items():
            by_id[trace_id].assessments = assessments
        return [by_id[i] for i in trace_ids if i in by_id]
