"""Logged models: create, finalize, delete, tag, parametrize and search them."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select, update

from opsloop.errors import InvalidInputError, InvalidStateError, NotFoundError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking._names import random_run_name
from opsloop.mlops.tracking.entities import LoggedModel, Metric
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
from opsloop.storage.sql._tracking.base import TrackingStoreBase, _exp_id, _now_ms


class LoggedModels(TrackingStoreBase):
    """Logged models of the SQL tracking store."""

    def create_logged_model(self, experiment_id: object, name: str | None = None, source_run_id: str | None = None,
                            tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != "active":
            raise InvalidStateError(f"The experiment {exp.experiment_id} must be in the 'active' state.")
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
                                     m.dataset_name, m.dataset_digest).where(m.model_id.in_(keys))
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
        for key, value in tags.items():
            limits.check_key(key, "tag")
            limits.check_value(value, "tag", key, limits.MAX_TAG_VAL_LENGTH)
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
        for key, value in params.items():
            limits.check_key(key, "param")
            limits.check_value(value, "param", key, limits.MAX_PARAM_VAL_LENGTH)
        self.get_logged_model(model_id)
        with self.db.write() as conn:
            insert_ignore(conn, t.logged_model_params,
                          [{"model_id": model_id, "key": k, "value": v} for k, v in params.items()])

    def search_logged_models(self, experiment_ids: Sequence[object], filter_string: str | None = None,
                             max_results: int = 100, order_by: Iterable[tuple[str, bool]] = (),
                             page_token: str | None = None) -> tuple[list[LoggedModel], str | None]:
        limits.check_max_results(max_results, limits.MAX_RESULTS_SEARCH_LOGGED_MODELS)
        lm = t.logged_models.c
        query = select(lm.model_id).where(lm.experiment_id.in_([_exp_id(e) for e in experiment_ids]),
                                          lm.lifecycle_stage == "active")
        for clause in parse_filter(filter_string, LOGGED_MODEL_ATTRIBUTES, LOGGED_MODEL_NUMERIC_ATTRIBUTES):
            query = _logged_model_clause(query, clause)
        columns = {"name": lm.name, "creation_timestamp": lm.creation_timestamp_ms,
                   "creation_time": lm.creation_timestamp_ms, "last_updated_timestamp": lm.last_updated_timestamp_ms,
                   "model_id": lm.model_id}
        for field_name, ascending in order_by:
            col = columns.get(field_name.removeprefix("attributes."))
            if col is None:
                raise InvalidInputError(f"Unsupported order_by field {field_name!r}", field="order_by")
            query = query.order_by(col.asc() if ascending else col.desc())
        query = query.order_by(lm.creation_timestamp_ms.desc(), lm.model_id)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(query.offset(offset).limit(max_results + 1))]
            found = self._load_logged_models(conn, ids[:max_results])
        return found, (encode_page_token(offset + max_results) if len(ids) > max_results else None)


def _logged_model_clause(query, clause):  # noqa: ANN001, ANN202
    lm = t.logged_models.c
    if clause.entity == "attribute":
        value = int(clause.value) if isinstance(clause.value, float) else clause.value
        return query.where(compare(lm[clause.key], clause.op, value))
    if clause.entity == "metric":
        m = t.metrics.c
        return query.where(lm.model_id.in_(select(m.model_id).where(
            m.key == clause.key, compare(m.value, clause.op, clause.value), ~m.is_nan)))
    table = {"param": t.logged_model_params, "tag": t.logged_model_tags}.get(clause.entity)
    if table is None:
        raise InvalidInputError(f"Unsupported logged model filter on {clause.entity}", field="filter")
    return query.where(lm.model_id.in_(select(table.c.model_id).where(
        table.c.key == clause.key, compare(table.c.value, clause.op, clause.value))))

