"""Logging to a run: metrics, params and tags (one atomic batch), and metric history."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, and_, exists, or_, select, update

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking.entities import Metric
from opsloop.mlops.tracking.search import decode_page_token, encode_page_token
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import insert_ignore_many, upsert
from opsloop.storage.sql._tracking.base import RUN_NAME_TAG, TrackingStoreBase, write_params

_METRIC_COLUMNS = ("run_uuid", "key", "step", "timestamp", "value", "is_nan", "model_id", "dataset_name",
                   "dataset_digest")


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


def _not_a_model_copy() -> ColumnElement[bool]:
    """Rows of ``metrics`` that are not a copy of a plain run point made for a logged model.

    mlflow's ``log_model`` re-sends the run's points of its step with the new ``model_id``; the logged
    model keeps those rows, while the run's history (as in MLflow, where they go to another table)
    shows each point once.
    """
    m, plain = t.metrics.c, t.metrics.alias("plain").c
    return or_(m.model_id == "", ~exists().where(
        plain.run_uuid == m.run_uuid, plain.key == m.key, plain.step == m.step, plain.timestamp == m.timestamp,
        plain.value == m.value, plain.is_nan == m.is_nan, plain.model_id == ""))


class RunLogging(TrackingStoreBase):
    """Metrics, params and tags of runs."""

    def log_batch(self, run_id: object, metrics: Sequence[Metric] = (), params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None, param_list: Sequence[tuple[str, str]] | None = None) -> None:
        """Log metrics, params and tags atomically: all of them are stored, or none."""
        pairs = list(param_list) if param_list is not None else list((params or {}).items())
        pairs, tags = self._check_batch(metrics, pairs, tags or {})
        unique_params = self._unique_params(pairs)
        with self.db.write() as conn:
            run_uuid: str = self._active_run(conn, run_id).run_uuid
            if unique_params:
                write_params(conn, t.params, t.params.c.run_uuid, run_uuid, unique_params, "run ID")
            if tags:
                self._write_tags(conn, run_uuid, tags)
            if metrics:
                self._write_metrics(conn, run_uuid, metrics)

    @staticmethod
    def _check_batch(metrics: Sequence[Metric], pairs: list[tuple[str, str]],
                     tags: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """Refuse a batch past MLflow's limits; the params and tags to write (long values cut, as MLflow does)."""
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
        RunLogging._check_metrics(metrics)
        params = [(limits.check_key(key, "param"),
                   limits.check_value(value, "param", key, limits.MAX_PARAM_VAL_LENGTH, truncate=True))
                  for key, value in pairs]
        return params, {limits.check_key(key, "tag"):
                        limits.check_value(value, "tag", key, limits.MAX_TAG_VAL_LENGTH, truncate=True)
                        for key, value in tags.items()}

    @staticmethod
    def _check_metrics(metrics: Sequence[Metric]) -> None:
        checked: set[str] = set()
        links: set[tuple[str, str, str]] = set()
        for m in metrics:
            if m.key not in checked:  # key rules once per distinct key: batches repeat a few keys
                limits.check_key(m.key, "metric")
                checked.add(m.key)
            limits.check_metric_numbers(m.key, m.value, m.timestamp, m.step)
            if m.model_id or m.dataset_name or m.dataset_digest:
                link = (m.model_id, m.dataset_name, m.dataset_digest)
                if link not in links:
                    limits.check_metric_link(*link)
                    links.add(link)

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
    def _write_tags(conn: Connection, run_id: str, tags: dict[str, str]) -> None:
        upsert(conn, t.tags, [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()],
               ["run_uuid", "key"], ["value"])
        if RUN_NAME_TAG in tags:
            conn.execute(update(t.runs).where(t.runs.c.run_uuid == run_id).values(
                name=tags[RUN_NAME_TAG][:limits.MAX_RUN_NAME_LENGTH]))

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
                 .where(m.run_uuid == run_id, m.key == key, _not_a_model_copy())
                 .order_by(m.step, m.timestamp, m.value))
        if max_results is not None:
            if max_results < 1:
                raise InvalidInputError("max_results must be positive", field="max_results")
            max_results = min(max_results, 2**62)  # "all of them", in what SQL's LIMIT can hold
            query = query.offset(offset).limit(max_results + 1)
        with self.db.read() as conn:
            self._run_row(conn, run_id)
            rows = conn.execute(query).all()
        token = None
        if max_results is not None and len(rows) > max_results:
            rows, token = rows[:max_results], encode_page_token(offset + max_results)
        return [Metric(r.key, math.nan if r.is_nan else r.value, r.timestamp, r.step, r.model_id,
                       r.dataset_name, r.dataset_digest, run_id) for r in rows], token
