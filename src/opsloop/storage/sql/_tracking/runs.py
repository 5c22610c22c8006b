"""Runs and their lifecycle: create, read, update, delete and restore."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from opsloop.errors import InvalidInputError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking._names import random_run_name
from opsloop.mlops.tracking.entities import RUN_STATUSES, Run, RunInfo
from opsloop.mlops.tracking.lifecycle import require_active
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import insert_ignore, upsert
from opsloop.storage.sql._tracking.base import RUN_NAME_TAG, TrackingStoreBase, _now_ms


class RunLifecycle(TrackingStoreBase):
    """Runs of the SQL tracking store and their lifecycle."""

    def create_run(self, experiment_id: object, user_id: str = "", start_time: int | None = None,
                   tags: dict[str, str] | None = None, run_name: str | None = None) -> Run:
        exp = self.get_experiment(experiment_id)
        require_active("experiment", exp.experiment_id, exp.lifecycle_stage, "experiment_id")
        tags = {limits.check_key(key, "tag"): limits.check_value(value, "tag", key, limits.MAX_TAG_VAL_LENGTH,
                                                                 truncate=True)
                for key, value in (tags or {}).items()}  # long values cut, as log_batch does
        tag_name = tags.get(RUN_NAME_TAG)
        run_name = run_name and limits.check_value(run_name, "run_name", RUN_NAME_TAG, limits.MAX_TAG_VAL_LENGTH,
                                                   truncate=True)
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
                run_uuid=run_id, experiment_id=int(exp.experiment_id), name=run_name[:limits.MAX_RUN_NAME_LENGTH],
                user_id=(user_id or "")[:limits.MAX_USER_ID_LENGTH],
                status="RUNNING", start_time=start, end_time=None,
                artifact_uri=f"{exp.artifact_location}/{run_id}/artifacts", lifecycle_stage="active",
            ))
            insert_ignore(conn, t.tags, [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()])
        return self.get_run(run_id)

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
            run_name = limits.check_value(run_name, "tag", RUN_NAME_TAG, limits.MAX_TAG_VAL_LENGTH, truncate=True)
            values["name"] = run_name[:limits.MAX_RUN_NAME_LENGTH]
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
