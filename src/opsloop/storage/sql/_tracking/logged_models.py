"""Logged models: create, finalize, delete, tag, parametrize and search them."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, or_, select, update

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking._names import random_run_name
from opsloop.mlops.tracking.entities import LoggedModel, Metric
from opsloop.mlops.tracking.lifecycle import require_active
from opsloop.mlops.tracking.search import (
    LOGGED_MODEL_ATTRIBUTES,
    LOGGED_MODEL_NUMERIC_ATTRIBUTES,
    decode_page_token,
    encode_page_token,
    parse_filter,
)
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import insert_ignore, upsert
from opsloop.storage.sql._run_query import compare
from opsloop.storage.sql._tracking.base import TrackingStoreBase, _exp_id, _now_ms, write_params


class LoggedModels(TrackingStoreBase):
    """Logged models of the SQL tracking store."""

    def create_logged_model(self, experiment_id: object, name: str | None = None, source_run_id: str | None = None,
                            tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        limits.check_length(name, limits.MAX_LOGGED_MODEL_NAME_LENGTH, "name")
        limits.check_length(model_type, limits.MAX_LOGGED_MODEL_NAME_LENGTH, "model_type")
        _check_keys_and_values(tags or {}, "tag")
        _check_keys_and_values(params or {}, "param")
        exp = self.get_experiment(experiment_id)
        require_active("experiment", exp.experiment_id, exp.lifecycle_stage, "experiment_id")
        model_id = f"m-{uuid.uuid4().hex}"
        now = _now_ms()
        with self.db.write() as conn:
            if source_run_id:
                self._run_row(conn, source_run_id)
            conn.execute(t.logged_models.insert().values(
                model_id=model_id, experiment_id=int(exp.experiment_id), name=name or random_run_name(),
                artifact_location=f"{exp.artifact_location}/models/{model_id}/artifacts",
                creation_timestamp_ms=now, last_updated_timestamp_ms=now, status="LOGGED_MODEL_PENDING",
                lifecycle_stage="active", model_type=model_type, source_run_id=source_run_id or None))
            insert_ignore(conn, t.logged_model_tags, [{"model_id": model_id, "key": k, "value": v}
                                                      for k, v in (tags or {}).items()])
            insert_ignore(conn, t.logged_model_params, [{"model_id": model_id, "key": k, "value": v}
                                                        for k, v in (params or {}).items()])
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self.db.read() as conn:
            found = self._load_logged_models(conn, [model_id], allow_deleted)
        if not found:
            raise NotFoundError(f"Logged model with ID '{model_id}' not found.", field="model_id")
        return found[0]

    def _load_logged_models(self, conn: Connection, ids: Sequence[str], allow_deleted: bool = False) -> list[LoggedModel]:
        lm = t.logged_models.c
        query = select(t.logged_models).where(lm.model_id.in_(list(ids)))
        if not allow_deleted:
            query = query.where(lm.lifecycle_stage == "active")
        out: dict[str, LoggedModel] = {}
        for r in conn.execute(query):
            out[r.model_id] = LoggedModel(r.model_id, str(r.experiment_id), r.name, r.artifact_location,
                                          r.creation_timestamp_ms, r.last_updated_timestamp_ms, r.status,
                                          r.model_type, r.source_run_id, r.status_message)
        keys = list(out)
        for r in conn.execute(select(t.logged_model_tags).where(t.logged_model_tags.c.model_id.in_(keys))):
            out[r.model_id].tags[r.key] = r.value
        for r in conn.execute(select(t.logged_model_params).where(t.logged_model_params.c.model_id.in_(keys))):
            out[r.model_id].params[r.key] = r.value
        m = t.metrics.c
        for r in conn.execute(select(m.model_id, m.run_uuid, m.key, m.value, m.is_nan, m.timestamp, m.step,
                                     m.dataset_name, m.dataset_digest).where(m.model_id.in_(keys), m.model_id != "")
                              .order_by(m.step, m.timestamp)):
            out[r.model_id].metrics.append(Metric(r.key, math.nan if r.is_nan else r.value, r.timestamp, r.step,
                                                  r.model_id, r.dataset_name, r.dataset_digest, r.run_uuid))
        mv = t.model_versions.c
        for r in conn.execute(select(mv.model_id, mv.name, mv.version).where(mv.model_id.in_(keys), ~mv.deleted)):
            out[r.model_id].registrations.append((r.name, str(r.version)))
        return [out[i] for i in ids if i in out]

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        if status not in ("LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED", "LOGGED_MODEL_PENDING"):
            raise InvalidInputError(f"Invalid logged model status {status!r}", field="status")
        self.get_logged_model(model_id)
        with self.db.write() as conn:
            conn.execute(update(t.logged_models).where(t.logged_models.c.model_id == model_id)
                         .values(status=status, last_updated_timestamp_ms=_now_ms()))
        return self.get_logged_model(model_id)

    def delete_logged_model(self, model_id: str) -> None:
        self.get_logged_model(model_id)
        with self.db.write() as conn:
            conn.execute(update(t.logged_models).where(t.logged_models.c.model_id == model_id)
                         .values(lifecycle_stage="deleted", last_updated_timestamp_ms=_now_ms()))

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        _check_keys_and_values(tags, "tag")
        self.get_logged_model(model_id)
        with self.db.write() as conn:
            upsert(conn, t.logged_model_tags, [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()],
                   ["model_id", "key"], ["value"])

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.get_logged_model(model_id)
        with self.db.write() as conn:
            n = conn.execute(t.logged_model_tags.delete().where(
                t.logged_model_tags.c.model_id == model_id, t.logged_model_tags.c.key == key)).rowcount
        if not n:
            raise NotFoundError(f"No tag with key {key!r} on logged model {model_id}", field="tag_key")

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Add params; one logged again with its value is a no-op, with another value an ``InvalidInputError``."""
        _check_keys_and_values(params, "param")
        self.get_logged_model(model_id)
        with self.db.write() as conn:  # MLflow refuses a changed value too (its table's primary key)
            write_params(conn, t.logged_model_params, t.logged_model_params.c.model_id, model_id, params,
                         "logged model ID")

    def search_logged_models(self, experiment_ids: Sequence[object], filter_string: str | None = None,
                             max_results: int = 100, order_by: Iterable[Mapping[str, Any]] = (),
                             page_token: str | None = None,
                             datasets: Sequence[Mapping[str, Any]] = ()) -> tuple[list[LoggedModel], str | None]:
        """Active logged models of the experiments, as MLflow searches them.

        ``order_by`` entries are MLflow's: ``{"field_name": "name" | "creation_time" | … | "metrics.KEY",
        "ascending": bool, "dataset_name": …, "dataset_digest": …}``; a metric orders by each model's latest
        value (on that dataset), models without one last. ``datasets`` (``[{"dataset_name", "dataset_digest"?}]``)
        restricts the metric filters to those datasets, or without one keeps the models with a metric on them.
        """
        limits.check_max_results(max_results, limits.MAX_RESULTS_SEARCH_LOGGED_MODELS)
        lm = t.logged_models.c
        query = select(lm.model_id).where(lm.experiment_id.in_([_exp_id(e) for e in experiment_ids]),
                                          lm.lifecycle_stage == "active")
        on_datasets = _on_datasets(datasets)
        clauses = parse_filter(filter_string, LOGGED_MODEL_ATTRIBUTES, LOGGED_MODEL_NUMERIC_ATTRIBUTES)
        for clause in clauses:
            query = _logged_model_clause(query, clause, on_datasets)
        if on_datasets is not None and not any(c.entity == "metric" for c in clauses):
            query = query.where(lm.model_id.in_(select(t.metrics.c.model_id).where(on_datasets,
                                                                                   t.metrics.c.model_id != "")))
        query = _ordered(query, order_by).order_by(lm.creation_timestamp_ms.desc(), lm.model_id)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(query.offset(offset).limit(max_results + 1))]
            found = self._load_logged_models(conn, ids[:max_results])
        return found, (encode_page_token(offset + max_results) if len(ids) > max_results else None)


def _check_keys_and_values(entries: Mapping[str, str], kind: str) -> None:
    """A logged model's params or tags: MLflow keeps any key that fits the column, and values whole."""
    for key, value in entries.items():
        limits.check_logged_model_key(key, kind)
        limits.check_value(value, kind, key, limits.MAX_LOGGED_MODEL_PARAM_TAG_VAL_LENGTH)


_ORDER_COLUMNS = {"name": "name", "creation_timestamp": "creation_timestamp_ms", "creation_time": "creation_timestamp_ms",
                  "last_updated_timestamp": "last_updated_timestamp_ms", "model_id": "model_id"}


def _on_datasets(datasets: Sequence[Mapping[str, Any]]) -> Any:
    """The metric rows on any of ``datasets`` (a name, and a digest if given), or None without datasets."""
    m, terms = t.metrics.c, []
    for d in datasets:
        if not d.get("dataset_name"):
            raise InvalidInputError("`dataset_name` in the `datasets` clause must be specified.", field="datasets")
        term = m.dataset_name == d["dataset_name"]
        terms.append(and_(term, m.dataset_digest == d["dataset_digest"]) if d.get("dataset_digest") else term)
    return or_(*terms) if terms else None


def _ordered(query: Select, order_by: Iterable[Mapping[str, Any]]) -> Select:
    lm = t.logged_models.c
    for i, entry in enumerate(order_by):
        field_name, ascending = entry["field_name"], entry.get("ascending", True)
        if field_name.startswith("metrics."):
            latest = _latest_metric(field_name.removeprefix("metrics."), entry, f"order_{i}")
            query = query.outerjoin(latest, latest.c.model_id == lm.model_id)
            col = latest.c.value
        elif field_name.removeprefix("attributes.") in _ORDER_COLUMNS:
            col = lm[_ORDER_COLUMNS[field_name.removeprefix("attributes.")]]
        else:
            raise InvalidInputError(f"Invalid order by field name: {field_name!r}; logged models are ordered by "
                                    f"{sorted(_ORDER_COLUMNS)} or metrics.KEY", field="order_by")
        query = query.order_by(case((col.is_(None), 1), else_=0), col.asc() if ascending else col.desc())
    return query


def _latest_metric(key: str, entry: Mapping[str, Any], name: str) -> Any:
    """Each logged model's latest value of metric ``key`` (newest timestamp, then step), NaN as missing."""
    m = t.metrics.c
    conditions = [m.key == key, m.model_id != ""]
    if entry.get("dataset_name"):
        conditions.append(m.dataset_name == entry["dataset_name"])
    if entry.get("dataset_digest"):
        conditions.append(m.dataset_digest == entry["dataset_digest"])
    rank = func.row_number().over(partition_by=m.model_id, order_by=(m.timestamp.desc(), m.step.desc(),
                                                                     m.run_uuid.asc()))
    ranked = select(m.model_id, case((m.is_nan, None), else_=m.value).label("value"), rank.label("rank")) \
        .where(*conditions).subquery()
    return select(ranked.c.model_id, ranked.c.value).where(ranked.c.rank == 1).subquery(name)


def _logged_model_clause(query, clause, on_datasets=None):  # noqa: ANN001, ANN202
    lm = t.logged_models.c
    if clause.entity == "attribute":
        value = int(clause.value) if isinstance(clause.value, float) else clause.value
        col = lm[clause.key]
        if clause.key == "model_type":  # a model without a type reads '' and is compared as '', as in MLflow
            col = func.coalesce(col, "")
        return query.where(compare(col, clause.op, value))
    if clause.entity == "metric":
        m = t.metrics.c
        rows = select(m.model_id).where(m.key == clause.key, compare(m.value, clause.op, clause.value), ~m.is_nan,
                                        m.model_id != "")
        return query.where(lm.model_id.in_(rows if on_datasets is None else rows.where(on_datasets)))
    table = {"param": t.logged_model_params, "tag": t.logged_model_tags}.get(clause.entity)
    if table is None:
        raise InvalidInputError(f"Unsupported logged model filter on {clause.entity}", field="filter")
    return query.where(lm.model_id.in_(select(table.c.model_id).where(
        table.c.key == clause.key, compare(table.c.value, clause.op, clause.value))))

