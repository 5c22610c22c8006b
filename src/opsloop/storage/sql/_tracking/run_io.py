"""What a run read and wrote: dataset and model inputs, model outputs, the log-model history tag."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from opsloop.errors import InvalidInputError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking.entities import Dataset, DatasetInput
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import insert_ignore, upsert
from opsloop.storage.sql._tracking.base import TrackingStoreBase

LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


class RunInputsOutputs(TrackingStoreBase):
    """Inputs (datasets, logged models) and outputs (logged models) of runs."""

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = (), model_ids: Sequence[str] = ()) -> None:
        for di in datasets:
            self._check_dataset(di)
        for model_id in model_ids:
            limits.check_length(model_id, limits.MAX_MODEL_ID_LENGTH, "model_id")
        with self.db.write() as conn:
            run = self._active_run(conn, run_id)
            position = self._next_input_position(conn, run_id)
            for offset, di in enumerate(datasets):
                ds_id = self._dataset_id(conn, run.experiment_id, di.dataset)
                # a dataset logged again keeps the input (context, tags, place) it was first logged with, as in
                # MLflow
                insert_ignore(conn, t.run_inputs, [{
                    "run_uuid": run_id, "dataset_uuid": ds_id, "tags_json": json.dumps(di.tags),
                    "context": di.tags.get("mlflow.data.context", ""), "position": position + offset,
                }])
            insert_ignore(conn, t.run_model_inputs, [{"run_uuid": run_id, "model_id": m} for m in model_ids])

    @staticmethod
    def _next_input_position(conn: Connection, run_id: str) -> int:
        """The place after the run's last logged input: runs read their inputs in the order they were logged."""
        ri = t.run_inputs.c
        last = conn.execute(select(func.max(ri.position)).where(ri.run_uuid == run_id)).scalar()
        return 0 if last is None else last + 1

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
        for model_id, _ in models:
            limits.check_length(model_id, limits.MAX_MODEL_ID_LENGTH, "model_id")
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
