"""Experiments: create, read, search, rename, delete and restore them, and their tags."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from opsloop.errors import AlreadyExistsError, InvalidInputError, InvalidStateError, NotFoundError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking.entities import Experiment, ViewType
from opsloop.mlops.tracking.lifecycle import require_active
from opsloop.mlops.tracking.search import decode_page_token, encode_page_token
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import insert_ignore, inserted_id, upsert
from opsloop.storage.sql._run_query import build_experiment_query
from opsloop.storage.sql._tracking.base import TrackingStoreBase, _exp_id, _now_ms

DEFAULT_EXPERIMENT_ID = "0"


class Experiments(TrackingStoreBase):
    """Experiments of the SQL tracking store."""

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
        with self._name_taken(name, "name"), self.db.write() as conn:
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
    @contextmanager
    def _name_taken(name: str, field: str) -> Iterator[None]:
        """A concurrent create or rename (another server on this PostgreSQL database) that took ``name`` between
        the check and the write is ``AlreadyExistsError`` too, not the unique index's ``IntegrityError``."""
        try:
            yield
        except IntegrityError as exc:
            if not any(mark in str(exc.orig) for mark in ("uq_experiments_name", "experiments.name")):  # PG, SQLite
                raise
            raise AlreadyExistsError(f"Experiment '{name}' already exists.", field=field) from None

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
        limits.check_max_results(max_results, limits.MAX_RESULTS_SEARCH_EXPERIMENTS)
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
        with self._name_taken(new_name, "new_name"), self.db.write() as conn:
            if conn.execute(select(t.experiments.c.experiment_id).where(t.experiments.c.name == new_name)).first():
                raise AlreadyExistsError(f"Experiment '{new_name}' already exists.", field="new_name")
            conn.execute(update(t.experiments).where(t.experiments.c.experiment_id == int(exp.experiment_id))
                         .values(name=new_name, last_update_time=_now_ms()))

    def set_experiment_tag(self, experiment_id: object, key: str, value: str) -> None:
        self._checked_experiment_tags({key: value})
        exp = self.get_experiment(experiment_id)
        require_active("experiment", exp.experiment_id, exp.lifecycle_stage, "experiment_id")
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
