"""What every part of the SQL tracking store shares: the database, run-row lookups, ids and clocks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Table, select

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking.lifecycle import require_active
from opsloop.mlops.tracking.limits import MAX_INT64
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import insert_ignore
from opsloop.storage.sql.engine import Database

if TYPE_CHECKING:
    from opsloop.mlops.tracking.entities import Experiment, Run

RUN_NAME_TAG = "mlflow.runName"


def _now_ms() -> int:
    return int(time.time() * 1000)


def write_params(conn: Connection, table: Table, owner: Column, owner_id: str, new: dict[str, str],
                 owner_name: str) -> None:
    """Add params, which are immutable: one logged again with its value is a no-op, with another value an
    ``InvalidInputError`` (MLflow's "Changing param values is not allowed"). ``owner`` is ``table``'s column
    of ``owner_id``; ``owner_name`` names it in the message (``run ID``, ``logged model ID``)."""
    existing = _params_unchanged(conn, table, owner, owner_id, new, owner_name)
    missing = [{owner.key: owner_id, "key": k, "value": v} for k, v in new.items() if k not in existing]
    insert_ignore(conn, table, missing)
    if missing and conn.dialect.name != "sqlite":
        # Another server on this database may have logged one of these keys since the check (its row won the
        # insert, ours was ignored): compare again, so a value that lost is refused rather than dropped.
        _params_unchanged(conn, table, owner, owner_id, {r["key"]: r["value"] for r in missing}, owner_name)


def _params_unchanged(conn: Connection, table: Table, owner: Column, owner_id: str, new: dict[str, str],
                      owner_name: str) -> dict[str, str]:
    existing = dict(conn.execute(select(table.c.key, table.c.value).where(
        owner == owner_id, table.c.key.in_(list(new)))).all())
    for key, value in new.items():
        if key in existing and existing[key] != value:
            raise InvalidInputError(
                f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                f"value='{existing[key]}' for {owner_name}='{owner_id}'. Attempted logging new value '{value}'.",
                field="params")
    return existing


def _exp_id(value: object) -> int:
    try:
        found = int(str(value))
    except ValueError:  # MLflow's answer for an id that is no integer (often an experiment's name)
        raise InvalidInputError(f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer.",
                                field="experiment_id") from None
    if not 0 <= found <= MAX_INT64:  # no such row can exist (and SQL could not even compare it)
        raise NotFoundError(f"No Experiment with id={value} exists", field="experiment_id")
    return found


class TrackingStoreBase:
    """The state and lookups the tracking store's parts share; ``SqlTrackingStore`` composes the parts."""

    db: Database
    artifact_root: str

    if TYPE_CHECKING:  # provided by the parts composed into SqlTrackingStore
        def get_experiment(self, experiment_id: object) -> Experiment: ...

        def _load_runs(self, conn: Connection, ids: Sequence[str]) -> list[Run]: ...

    def _run_row(self, conn: Connection, run_id: object):  # noqa: ANN202
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("Missing value for required parameter 'run_id'", field="run_id")
        row = conn.execute(select(t.runs).where(t.runs.c.run_uuid == run_id)).first()
        if row is None:
            raise NotFoundError(f"Run with id={run_id} not found", field="run_id")
        return row

    def _active_run(self, conn: Connection, run_id: object):  # noqa: ANN202
        row = self._run_row(conn, run_id)
        require_active("run", run_id, row.lifecycle_stage, "run_id")
        return row
