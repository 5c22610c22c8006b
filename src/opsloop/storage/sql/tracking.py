"""The SQL tracking store: experiments, runs, params, metrics, tags, inputs and logged models."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, or_, select, update

from opsloop.errors import AlreadyExistsError, InvalidInputError, InvalidStateError, NotFoundError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking._names import random_run_name
from opsloop.mlops.tracking.entities import (
    RUN_STATUSES,
    Dataset,
    DatasetInput,
    Experiment,
    LoggedModel,
    Metric,
    Run,
    RunInfo,
    ViewType,
)
from opsloop.mlops.tracking.search import (
    LOGGED_MODEL_ATTRIBUTES,
    LOGGED_MODEL_NUMERIC_ATTRIBUTES,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import chunks, insert_ignore, insert_ignore_many, inserted_id, upsert
from opsloop.storage.sql._run_query import build_experiment_query, build_run_query, compare
from opsloop.storage.sql.engine import Database

__all__ = ["SqlTrackingStore"]

DEFAULT_EXPERIMENT_ID = "0"
RUN_NAME_TAG = "mlflow.runName"
_METRIC_COLUMNS = ("run_uuid", "key", "step", "timestamp", "value", "is_nan", "model_id", "dataset_name",
                   "dataset_digest")
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _exp_id(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise NotFoundError(f"No Experiment with id={value} exists", field="experiment_id") from None


def _newer(table, excluded):  # noqa: ANN001, ANN202 - SQL expression builder for latest_metrics
    return or_(
        excluded.step > table.c.step,
        and_(excluded.step == table.c.step, excluded.timestamp > table.c.timestamp),
        and_(
            excluded.step == table.c.step,
            excluded.timestamp == table.c.timestamp,
            excluded.value > table.c.value,
        ),
    )


class SqlTrackingStore:
    """MLflow-semantics tracking on SQLite or PostgreSQL.

    Args:
        db: the opened database.
        artifact_root: the prefix of new experiments' artifact locations; the server uses
            ``mlflow-artifacts:`` so clients upload through its artifact proxy.
    """

    def __init__(self, db: Database, artifact_root: str = "mlflow-artifacts:") -> None:
        self.db = db
        self.artifact_root = artifact_root.rstrip("/")
        self._ensure_default_experiment()

    # -- experiments --------------------------------------------------------------------------------

    def _ensure_default_experiment(self) -> None:
        with self.db.write() as conn:
            now = _now_ms()
            insert_ignore(conn, t.experiments, [{
                "experiment_id": 0, "name": "Default", "artifact_location": f"{self.artifact_root}/0",
                "lifecycle_stage": "active", "creation_time": now, "last_update_time": now,
            }])

    def create_experiment(self, name: object, artifact_location: str | None = None,
                          tags: dict[str, str] | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("Invalid experiment name: must be a non-empty string", field="name")
        if len(name) > limits.MAX_EXPERIMENT_NAME_LENGTH:
            raise InvalidInputError(f"Experiment name exceeds {limits.MAX_EXPERIMENT_NAME_LENGTH} characters",
                                    field="name")
        tags = self._checked_experiment_tags(tags or {})
        now = _now_ms()
        with self.db.write() as conn:
            if conn.execute(select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)).first():
                raise AlreadyExistsError(f"Experiment '{name}' already exists.", field="name")
            exp_id = inserted_id(conn.execute(t.experiments.insert().values(
                name=name, artifact_location=artifact_location or "", lifecycle_stage="active",
                creation_time=now, last_update_time=now,
            )))
            if not artifact_location:
                conn.execute(update(t.experiments).where(t.experiments.c.experiment_id == exp_id)
                             .values(artifact_location=f"{self.artifact_root}/{exp_id}"))
            insert_ignore(conn, t.experiment_tags,
                          [{"experiment_id": exp_id, "key": k, "value": v} for k, v in tags.items()])
        return str(exp_id)

    @staticmethod
    def _checked_experiment_tags(tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            limits.check_key(key, "tag")
            limits.check_value(value, "tag", key, limits.MAX_EXPERIMENT_TAG_VAL_LENGTH)
        return tags

    def _experiment_rows(self, conn: Connection, ids: Sequence[int]) -> list[Experiment]:
        rows = conn.execute(select(t.experiments).where(t.experiments.c.experiment_id.in_(ids))).all()
        tag_map: dict[int, dict[str, str]] = {}
        for r in conn.execute(select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(ids))):
            tag_map.setdefault(r.experiment_id, {})[r.key] = r.value
        by_id = {
            r.experiment_id: Experiment(str(r.experiment_id), r.name, r.artifact_location, r.lifecycle_stage,
                                        r.creation_time, r.last_update_time, tag_map.get(r.experiment_id, {}))
            for r in rows
        }
        return [by_id[i] for i in ids if i in by_id]

    def get_experiment(self, experiment_id: object) -> Experiment:
        with self.db.read() as conn:
            found = self._experiment_rows(conn, [_exp_id(experiment_id)])
        if not found:
            raise NotFoundError(f"No Experiment with id={experiment_id} exists", field="experiment_id")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment:
        with self.db.read() as conn:
            row = conn.execute(select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)).first()
            found = self._experiment_rows(conn, [row[0]]) if row else []
        if not found:
            raise NotFoundError(f"Could not find experiment with name '{name}'", field="experiment_name")
        return found[0]

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, filter_string: str | None = None,
                           max_results: int = 1000, order_by: list[str] | None = None,
                           page_token: str | None = None) -> tuple[list[Experiment], str | None]:
        if not 1 <= max_results <= limits.MAX_RESULTS_SEARCH_EXPERIMENTS:
            raise InvalidInputError(
                f"Invalid value for request parameter max_results. It must be at most "
                f"{limits.MAX_RESULTS_SEARCH_EXPERIMENTS}, but got value {max_results}", field="max_results")
        offset = decode_page_token(page_token)
        query = build_experiment_query(ViewType.stages(view_type), filter_string, order_by)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(query.offset(offset).limit(max_results + 1))]
            found = self._experiment_rows(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return found, token

    def _set_experiment_stage(self, experiment_id: object, stage: str) -> None:
        exp = self.get_experiment(experiment_id)
        if exp.experiment_id == DEFAULT_EXPERIMENT_ID and stage == "deleted":
            raise InvalidInputError("Cannot delete the default experiment '0'.", field="experiment_id")
        with self.db.write() as conn:
            conn.execute(update(t.experiments).where(t.experiments.c.experiment_id == int(exp.experiment_id))
                         .values(lifecycle_stage=stage, last_update_time=_now_ms()))
            conn.execute(update(t.runs).where(t.runs.c.experiment_id == int(exp.experiment_id))
                         .values(lifecycle_stage=stage, deleted_time=_now_ms() if stage == "deleted" else None))

    def delete_experiment(self, experiment_id: object) -> None:
        self._set_experiment_stage(experiment_id, "deleted")

    def restore_experiment(self, experiment_id: object) -> None:
        self._set_experiment_stage(experiment_id, "active")

    def rename_experiment(self, experiment_id: object, new_name: object) -> None:
        if not isinstance(new_name, str) or not new_name.strip():
            raise InvalidInputError("Invalid experiment name: must be a non-empty string", field="new_name")
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != "active":
            raise InvalidStateError(f"Cannot rename a non-active experiment {exp.experiment_id}.")
        with self.db.write() as conn:
            if conn.execute(select(t.experiments.c.experiment_id).where(t.experiments.c.name == new_name)).first():
                raise AlreadyExistsError(f"Experiment '{new_name}' already exists.", field="new_name")
            conn.execute(update(t.experiments).where(t.experiments.c.experiment_id == int(exp.experiment_id))
                         .values(name=new_name, last_update_time=_now_ms()))

    def set_experiment_tag(self, experiment_id: object, key: str, value: str) -> None:
        self._checked_experiment_tags({key: value})
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != "active":
            raise InvalidStateError(f"The experiment {exp.experiment_id} must be in the 'active' state.")
        with self.db.write() as conn:
            upsert(conn, t.experiment_tags, [{"experiment_id": int(exp.experiment_id), "key": key, "value": value}],
                   ["experiment_id", "key"], ["value"])

    def delete_experiment_tag(self, experiment_id: object, key: str) -> None:
        exp = self.get_experiment(experiment_id)
        with self.db.write() as conn:
            n = conn.execute(t.experiment_tags.delete().where(
                t.experiment_tags.c.experiment_id == int(exp.experiment_id), t.experiment_tags.c.key == key)).rowcount
        if not n:
            raise NotFoundError(f"No tag with name: {key} in experiment with id {exp.experiment_id}", field="key")

    # -- runs ---------------------------------------------------------------------------------------

    def create_run(self, experiment_id: object, user_id: str = "", start_time: int | None = None,
                   tags: dict[str, str] | None = None, run_name: str | None = None) -> Run:
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != "active":
            raise InvalidStateError(
                f"The experiment {exp.experiment_id} must be in the 'active' state. "
                f"Current state is {exp.lifecycle_stage}.")
        tags = dict(tags or {})
        for key, value in tags.items():
            limits.check_key(key, "tag")
            limits.check_value(value, "tag", key, limits.MAX_TAG_VAL_LENGTH)
        tag_name = tags.get(RUN_NAME_TAG)
        if run_name and tag_name and run_name != tag_name:
            raise InvalidInputError(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                f"(run_name='{run_name}', mlflow.runName='{tag_name}').", field="run_name")
        run_name = run_name or tag_name or random_run_name()
        tags[RUN_NAME_TAG] = run_name
        run_id = uuid.uuid4().hex
        start = _now_ms() if start_time is None else limits.check_int64(start_time, "start_time")
        with self.db.write() as conn:
            conn.execute(t.runs.insert().values(
                run_uuid=run_id, experiment_id=int(exp.experiment_id), name=run_name, user_id=user_id or "",
                status="RUNNING", start_time=start, end_time=None,
                artifact_uri=f"{exp.artifact_location}/{run_id}/artifacts", lifecycle_stage="active",
            ))
            insert_ignore(conn, t.tags, [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()])
        return self.get_run(run_id)

    def _run_row(self, conn: Connection, run_id: object):  # noqa: ANN202
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("Missing value for required parameter 'run_id'", field="run_id")
        row = conn.execute(select(t.runs).where(t.runs.c.run_uuid == run_id)).first()
        if row is None:
            raise NotFoundError(f"Run with id={run_id} not found", field="run_id")
        return row

    def _active_run(self, conn: Connection, run_id: object):  # noqa: ANN202
        row = self._run_row(conn, run_id)
        if row.lifecycle_stage != "active":
            raise InvalidStateError(
                f"The run {run_id} must be in the 'active' state. Current state is {row.lifecycle_stage}.")
        return row

    def get_run(self, run_id: object) -> Run:
        with self.db.read() as conn:
            row = self._run_row(conn, run_id)
            return self._load_runs(conn, [row.run_uuid])[0]

    def update_run_info(self, run_id: object, status: str | None = None, end_time: int | None = None,
                        run_name: str | None = None) -> RunInfo:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidInputError(f"Invalid run status {status!r}", field="status")
        values: dict[str, object] = {}
        if status is not None:
            values["status"] = status
        if end_time is not None:
            values["end_time"] = limits.check_int64(end_time, "end_time")
        if run_name:
            values["name"] = run_name
        with self.db.write() as conn:
            self._active_run(conn, run_id)
            if values:
                conn.execute(update(t.runs).where(t.runs.c.run_uuid == run_id).values(**values))
            if run_name:
                upsert(conn, t.tags, [{"run_uuid": run_id, "key": RUN_NAME_TAG, "value": run_name}],
                       ["run_uuid", "key"], ["value"])
        return self.get_run(run_id).info

    def _set_run_stage(self, run_id: object, stage: str) -> None:
        with self.db.write() as conn:
            self._run_row(conn, run_id)
            conn.execute(update(t.runs).where(t.runs.c.run_uuid == run_id).values(
                lifecycle_stage=stage, deleted_time=_now_ms() if stage == "deleted" else None))

    def delete_run(self, run_id: object) -> None:
        self._set_run_stage(run_id, "deleted")

    def restore_run(self, run_id: object) -> None:
        self._set_run_stage(run_id, "active")

    # -- logging ------------------------------------------------------------------------------------

    def log_batch(self, run_id: object, metrics: Sequence[Metric] = (), params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None, param_list: Sequence[tuple[str, str]] | None = None) -> None:
        """Log metrics, params and tags atomically: all of them are stored, or none."""
        pairs = list(param_list) if param_list is not None else list((params or {}).items())
        tags = tags or {}
        self._check_batch(metrics, pairs, tags)
        unique_params = self._unique_params(pairs)
        with self.db.write() as conn:
            run_uuid: str = self._active_run(conn, run_id).run_uuid
            if unique_params:
                self._write_params(conn, run_uuid, unique_params)
            if tags:
                self._write_tags(conn, run_uuid, tags)
            if metrics:
                self._write_metrics(conn, run_uuid, metrics)

    @staticmethod
    def _check_batch(metrics: Sequence[Metric], pairs: list[tuple[str, str]], tags: dict[str, str]) -> None:
        if len(metrics) > limits.MAX_METRICS_PER_BATCH:
            raise limits.LimitExceededError(
                f"A batch logging request can contain at most {limits.MAX_METRICS_PER_BATCH} metrics. "
                f"Got {len(metrics)} metrics.", field="metrics")
        if len(pairs) > limits.MAX_PARAMS_TAGS_PER_BATCH:
            raise limits.LimitExceededError(
                f"A batch logging request can contain at most {limits.MAX_PARAMS_TAGS_PER_BATCH} params. "
                f"Got {len(pairs)} params.", field="params")
        if len(tags) > limits.MAX_PARAMS_TAGS_PER_BATCH:
            raise limits.LimitExceededError(
                f"A batch logging request can contain at most {limits.MAX_PARAMS_TAGS_PER_BATCH} tags. "
                f"Got {len(tags)} tags.", field="tags")
        if len(metrics) + len(pairs) + len(tags) > limits.MAX_ENTITIES_PER_BATCH:
            raise limits.LimitExceededError(
                f"A batch logging request can contain at most {limits.MAX_ENTITIES_PER_BATCH} metrics, params "
                "and tags in total.", field="metrics")
        checked: set[str] = set()
        for m in metrics:
            if m.key not in checked:  # key rules once per distinct key: batches repeat a few keys
                limits.check_key(m.key, "metric")
                checked.add(m.key)
            limits.check_metric_numbers(m.key, m.value, m.timestamp, m.step)
        for key, value in pairs:
            limits.check_key(key, "param")
            limits.check_value(value, "param", key, limits.MAX_PARAM_VAL_LENGTH)
        for key, value in tags.items():
            limits.check_key(key, "tag")
            limits.check_value(value, "tag", key, limits.MAX_TAG_VAL_LENGTH)

    @staticmethod
    def _unique_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in pairs:
            if key in out and out[key] != value:
                raise InvalidInputError(
                    f"Duplicate parameter keys have been submitted: ['{key}']. Please ensure the request contains "
                    "only one param value per param key.", field="params")
            out[key] = value
        return out

    @staticmethod
    def _write_params(conn: Connection, run_id: str, new: dict[str, str]) -> None:
        existing = dict(conn.execute(select(t.params.c.key, t.params.c.value).where(
            t.params.c.run_uuid == run_id, t.params.c.key.in_(list(new)))).all())
        for key, value in new.items():
            if key in existing and existing[key] != value:
                raise InvalidInputError(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{existing[key]}' for run ID='{run_id}'. Attempted logging new value '{value}'.",
                    field="params")
        insert_ignore(conn, t.params, [{"run_uuid": run_id, "key": k, "value": v}
                                        for k, v in new.items() if k not in existing])

    @staticmethod
    def _write_tags(conn: Connection, run_id: str, tags: dict[str, str]) -> None:
        upsert(conn, t.tags, [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()],
               ["run_uuid", "key"], ["value"])
        if RUN_NAME_TAG in tags:
            conn.execute(update(t.runs).where(t.runs.c.run_uuid == run_id).values(name=tags[RUN_NAME_TAG]))

    @staticmethod
    def _write_metrics(conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
        rows = []
        latest: dict[str, tuple] = {}
        for m in metrics:
            nan = m.value != m.value
            value = 0.0 if nan else m.value
            rows.append((run_id, m.key, m.step, m.timestamp, value, nan, m.model_id or "", m.dataset_name or "",
                         m.dataset_digest or ""))
            cur = latest.get(m.key)
            if cur is None or (m.step, m.timestamp, value) > (cur[0], cur[1], cur[2]):
                latest[m.key] = (m.step, m.timestamp, value, nan)
        insert_ignore_many(conn, t.metrics, _METRIC_COLUMNS, rows)
        upsert(conn, t.latest_metrics,
               [{"run_uuid": run_id, "key": k, "step": v[0], "timestamp": v[1], "value": v[2], "is_nan": v[3]}
                for k, v in latest.items()],
               ["run_uuid", "key"], ["step", "timestamp", "value", "is_nan"], where=_newer)

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, param_list=[(key, value)])

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, tags={key: value})

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.db.write() as conn:
            self._active_run(conn, run_id)
            n = conn.execute(t.tags.delete().where(t.tags.c.run_uuid == run_id, t.tags.c.key == key)).rowcount
        if not n:
            raise NotFoundError(f"No tag with name: {key} in run with id {run_id}", field="key")

    def get_metric_history(self, run_id: str, key: str, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        if not isinstance(key, str) or not key:
            raise InvalidInputError("Missing value for required parameter 'metric_key'", field="metric_key")
        offset = decode_page_token(page_token)
        m = t.metrics.c
        query = (select(m.key, m.value, m.is_nan, m.timestamp, m.step, m.model_id, m.dataset_name, m.dataset_digest)
                 .where(m.run_uuid == run_id, m.key == key).order_by(m.step, m.timestamp, m.value))
        if max_results is not None:
            if max_results < 1:
                raise InvalidInputError("max_results must be positive", field="max_results")
            query = query.offset(offset).limit(max_results + 1)
        with self.db.read() as conn:
            self._run_row(conn, run_id)
            rows = conn.execute(query).all()
        token = None
        if max_results is not None and len(rows) > max_results:
            rows, token = rows[:max_results], encode_page_token(offset + max_results)
        return [Metric(r.key, math.nan if r.is_nan else r.value, r.timestamp, r.step, r.model_id,
                       r.dataset_name, r.dataset_digest, run_id) for r in rows], token

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = (), model_ids: Sequence[str] = ()) -> None:
        for di in datasets:
            self._check_dataset(di)
        with self.db.write() as conn:
            run = self._active_run(conn, run_id)
            for di in datasets:
                ds_id = self._dataset_id(conn, run.experiment_id, di.dataset)
                upsert(conn, t.run_inputs, [{
                    "run_uuid": run_id, "dataset_uuid": ds_id, "tags_json": json.dumps(di.tags),
                    "context": di.tags.get("mlflow.data.context", ""),
                }], ["run_uuid", "dataset_uuid"], ["tags_json", "context"])
            insert_ignore(conn, t.run_model_inputs, [{"run_uuid": run_id, "model_id": m} for m in model_ids])

    @staticmethod
    def _check_dataset(di: DatasetInput) -> None:
        d = di.dataset
        checks = [("name", d.name, limits.MAX_DATASET_NAME_SIZE), ("digest", d.digest, limits.MAX_DATASET_DIGEST_SIZE),
                  ("source_type", d.source_type, 36), ("source", d.source, limits.MAX_DATASET_SOURCE_SIZE)]
        for name, value, limit in checks:
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"Dataset {name} must be a non-empty string", field=f"dataset.{name}")
            limits.check_value(value, "dataset", name, limit)
        for name, optional, limit in [("schema", d.schema, limits.MAX_DATASET_SCHEMA_SIZE),
                                      ("profile", d.profile, limits.MAX_DATASET_PROFILE_SIZE)]:
            if optional is not None:
                limits.check_value(optional, "dataset", name, limit)
        for key, value in di.tags.items():
            limits.check_value(key, "input tag", "key", limits.MAX_INPUT_TAG_KEY_SIZE)
            limits.check_value(value, "input tag", key, limits.MAX_INPUT_TAG_VALUE_SIZE)

    @staticmethod
    def _dataset_id(conn: Connection, experiment_id: int, d: Dataset) -> str:
        c = t.datasets.c
        found = conn.execute(select(c.dataset_uuid).where(
            c.experiment_id == experiment_id, c.name == d.name, c.digest == d.digest)).first()
        if found:
            return found[0]
        ds_id = uuid.uuid4().hex
        conn.execute(t.datasets.insert().values(
            dataset_uuid=ds_id, experiment_id=experiment_id, name=d.name, digest=d.digest,
            source_type=d.source_type, source=d.source, schema=d.schema, profile=d.profile))
        return ds_id

    def log_outputs(self, run_id: str, models: Sequence[tuple[str, int]]) -> None:
        with self.db.write() as conn:
            self._active_run(conn, run_id)
            upsert(conn, t.run_model_outputs, [{"run_uuid": run_id, "model_id": m, "step": s} for m, s in models],
                   ["run_uuid", "model_id"], ["step"])

    def record_logged_model(self, run_id: str, model_json: str) -> None:
        try:
            model = json.loads(model_json)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError("model_json is not valid JSON", field="model_json") from exc
        with self.db.write() as conn:
            self._active_run(conn, run_id)
            row = conn.execute(select(t.tags.c.value).where(
                t.tags.c.run_uuid == run_id, t.tags.c.key == LOG_MODEL_HISTORY_TAG)).first()
            history = json.loads(row[0]) if row else []
            history.append(model)
            upsert(conn, t.tags, [{"run_uuid": run_id, "key": LOG_MODEL_HISTORY_TAG, "value": json.dumps(history)}],
                   ["run_uuid", "key"], ["value"])

    # -- search -------------------------------------------------------------------------------------

    def search_runs(self, experiment_ids: Sequence[object], filter_string: str | None = None,
                    run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: list[str] | None = None, page_token: str | None = None) -> tuple[list[Run], str | None]:
        if not isinstance(max_results, int) or not 1 <= max_results <= limits.MAX_RESULTS_SEARCH_RUNS:
            raise InvalidInputError(
                "Invalid value for request parameter max_results. It must be at most "
                f"{limits.MAX_RESULTS_SEARCH_RUNS}, but got value {max_results}", field="max_results")
        clauses = parse_filter(filter_string)
        orders = parse_order_by(order_by)
        offset = decode_page_token(page_token)
        exp_ids = [_exp_id(e) for e in experiment_ids]
        query = build_run_query(exp_ids, ViewType.stages(run_view_type), clauses, orders)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(query.offset(offset).limit(max_results + 1))]
            found = self._load_runs(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return found, token

    def _load_runs(self, conn: Connection, ids: Sequence[str]) -> list[Run]:
        if not ids:
            return []
        found: dict[str, Run] = {}
        for batch in chunks(ids):
            for r in conn.execute(select(t.runs).where(t.runs.c.run_uuid.in_(batch))):
                found[r.run_uuid] = Run(RunInfo(r.run_uuid, str(r.experiment_id), r.name, r.user_id, r.status,
                                                r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage))
            self._attach_children(conn, batch, found)
        return [found[i] for i in ids if i in found]

    @staticmethod
    def _attach_children(conn: Connection, batch: list[str], found: dict[str, Run]) -> None:
        for r in conn.execute(select(t.params.c.run_uuid, t.params.c.key, t.params.c.value)
                              .where(t.params.c.run_uuid.in_(batch))):
            found[r[0]].params[r[1]] = r[2]
        for r in conn.execute(select(t.tags.c.run_uuid, t.tags.c.key, t.tags.c.value)
                              .where(t.tags.c.run_uuid.in_(batch))):
            found[r[0]].tags[r[1]] = r[2]
        lm = t.latest_metrics.c
        for m in conn.execute(select(lm.run_uuid, lm.key, lm.value, lm.is_nan, lm.timestamp, lm.step)
                              .where(lm.run_uuid.in_(batch))):
            found[m[0]].metrics.append(Metric(m[1], math.nan if m[3] else m[2], m[4], m[5], run_id=m[0]))
        ri, d = t.run_inputs.c, t.datasets.c
        for i in conn.execute(select(ri.run_uuid, ri.tags_json, d.name, d.digest, d.source_type, d.source, d.schema,
                                     d.profile).join_from(t.run_inputs, t.datasets, ri.dataset_uuid == d.dataset_uuid)
                              .where(ri.run_uuid.in_(batch))):
            found[i[0]].dataset_inputs.append(
                DatasetInput(Dataset(i[2], i[3], i[4], i[5], i[6], i[7]), json.loads(i[1])))
        for r in conn.execute(select(t.run_model_inputs).where(t.run_model_inputs.c.run_uuid.in_(batch))):
            found[r.run_uuid].model_inputs.append(r.model_id)
        for r in conn.execute(select(t.run_model_outputs).where(t.run_model_outputs.c.run_uuid.in_(batch))):
            found[r.run_uuid].model_outputs.append((r.model_id, r.step))

    # -- logged models ------------------------------------------------------------------------------

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

