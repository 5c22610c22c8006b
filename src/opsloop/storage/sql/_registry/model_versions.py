"""Model versions: register, read, update, move between legacy stages, delete (redacted), and their tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from sqlalchemy import Connection, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from opsloop.errors import InvalidInputError
from opsloop.mlops.registry.entities import ModelVersion
from opsloop.mlops.registry.identifiers import check_model_name, check_tag
from opsloop.mlops.registry.sources import ResolvedSource, is_prompt_version, resolve_source
from opsloop.mlops.registry.stages import ACTIVE_STAGES, ALL_STAGES, ARCHIVED, canonical_stage
from opsloop.mlops.tracking import limits
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import chunks, upsert
from opsloop.storage.sql._registry.base import _MV, _RM, RegistryStoreBase, _now_ms

REDACTED = {"description": None, "user_id": None, "source": "REDACTED-SOURCE-PATH", "run_id": "REDACTED-RUN-ID",
            "run_link": "REDACTED-RUN-LINK", "status_message": None, "storage_location": None}


class ModelVersions(RegistryStoreBase):
    """Versions of registered models."""

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: Mapping[str, str] | None = None, run_link: str | None = None,
                             description: str | None = None, model_id: str | None = None,
                             user_id: str | None = None) -> ModelVersion:
        """Register the next version of ``name`` from ``source`` (``models:/m-…``, ``runs:/…``,
        ``mlflow-artifacts:/…`` inside the run's or logged model's artifacts, ``models:/NAME/V``); the rules
        are in ``opsloop.mlops.registry.sources``."""
        check_model_name(name)
        limits.check_length(user_id, limits.MAX_USER_ID_LENGTH, "user_id")
        tag_rows = [dict(zip(("key", "value"), check_tag(k, v), strict=True)) for k, v in (tags or {}).items()]
        found = resolve_source(source, run_id or None, model_id or None, tracking=self.tracking,
                               resolve_version=self.resolve_version, prompt=is_prompt_version(tags))
        if found.source.startswith("runs:"):
            # runs:/RUN/NAME is the model NAME the run logged, whose files MLflow 3 keeps with the logged model
            # (as MLflow's RunsArtifactRepository resolves it), else a folder of the run's artifacts
            found = replace(found, storage_location=self.artifact_uri(found.source))
        for attempt in range(3):
            try:
                version = self._insert_version(name, found, run_link, description, user_id, tag_rows)
                return self.get_model_version(name, version)
            except IntegrityError:  # PostgreSQL: a concurrent create took the number; take the next one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _insert_version(self, name: str, found: ResolvedSource, run_link: str | None, description: str | None,
                        user_id: str | None, tag_rows: list[dict[str, str]]) -> int:
        now = _now_ms()
        with self.db.write() as conn:
            self._model_row(conn, name, lock=True)
            # Deleted versions keep their rows, so a number is never reused.
            version = (conn.execute(select(func.max(_MV.version)).where(_MV.name == name)).scalar() or 0) + 1
            conn.execute(t.model_versions.insert().values(
                name=name, version=version, creation_time=now, last_updated_time=now, description=description,
                user_id=user_id or None, current_stage="None", source=found.source,
                storage_location=found.storage_location, run_id=found.run_id, run_link=run_link or None,
                model_id=found.model_id, status="READY", deleted=False))
            if tag_rows:
                conn.execute(t.model_version_tags.insert(), [{"name": name, "version": version, **r}
                                                             for r in tag_rows])
            conn.execute(update(t.registered_models).where(_RM.name == name).values(last_updated_time=now))
        return version

    def _load_versions(self, conn: Connection, keys: Sequence[tuple[str, int]]) -> list[ModelVersion]:
        found: dict[tuple[str, int], ModelVersion] = {}
        for batch in chunks(keys):
            key = tuple_(_MV.name, _MV.version)
            for r in conn.execute(select(t.model_versions).where(key.in_(batch))):
                found[(r.name, r.version)] = ModelVersion(
                    r.name, r.version, r.creation_time, r.last_updated_time, r.current_stage, r.source,
                    r.storage_location, r.description, r.user_id, r.run_id, r.run_link, r.model_id, r.status,
                    r.status_message)
            tags = t.model_version_tags.c
            for r in conn.execute(select(tags.name, tags.version, tags.key, tags.value)
                                  .where(tuple_(tags.name, tags.version).in_(batch))):
                found[(r.name, r.version)].tags[r.key] = r.value
            al = t.registered_model_aliases.c
            for r in conn.execute(select(al.name, al.version, al.alias)
                                  .where(tuple_(al.name, al.version).in_(batch)).order_by(al.alias)):
                found[(r.name, r.version)].aliases.append(r.alias)
        return [found[k] for k in keys if k in found]

    def get_model_version(self, name: str, version: object) -> ModelVersion:
        with self.db.read() as conn:
            row = self._version_row(conn, name, version)
            return self._load_versions(conn, [(row.name, row.version)])[0]

    def get_model_version_download_uri(self, name: str, version: object) -> str:
        return self.get_model_version(name, version).download_uri

    def update_model_version(self, name: str, version: object, description: str | None) -> ModelVersion:
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            conn.execute(update(t.model_versions).where(_MV.name == name, _MV.version == row.version)
                         .values(description=description, last_updated_time=_now_ms()))
        return self.get_model_version(name, version)

    def transition_model_version_stage(self, name: str, version: object, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Legacy stages: move the version to ``stage``, optionally archiving the others in that stage."""
        stage = canonical_stage(stage)
        if archive_existing_versions and stage not in ACTIVE_STAGES:
            raise InvalidInputError(f"Model version transition cannot archive existing model versions because "
                                    f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}",
                                    field="archive_existing_versions")
        now = _now_ms()
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            if archive_existing_versions:
                conn.execute(update(t.model_versions).where(
                    _MV.name == name, _MV.version != row.version, _MV.current_stage == stage, ~_MV.deleted,
                ).values(current_stage=ARCHIVED, last_updated_time=now))
            conn.execute(update(t.model_versions).where(_MV.name == name, _MV.version == row.version)
                         .values(current_stage=stage, last_updated_time=now))
            conn.execute(update(t.registered_models).where(_RM.name == name).values(last_updated_time=now))
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: object, actor: str = "", reason: str = "") -> None:
        """Delete a version: its aliases go (audited), its row stays redacted so the number is never reused."""
        now = _now_ms()
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            al = t.registered_model_aliases.c
            for r in conn.execute(select(al.alias).where(al.name == name, al.version == row.version)).all():
                self._audit(conn, name, r.alias, row.version, None, actor, reason or f"version {row.version} deleted")
            conn.execute(t.registered_model_aliases.delete().where(al.name == name, al.version == row.version))
            tags = t.model_version_tags
            conn.execute(tags.delete().where(tags.c.name == name, tags.c.version == row.version))
            conn.execute(update(t.model_versions).where(_MV.name == name, _MV.version == row.version)
                         .values(deleted=True, last_updated_time=now, **REDACTED))
            conn.execute(update(t.registered_models).where(_RM.name == name).values(last_updated_time=now))

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each requested stage (every stage when ``stages`` is empty)."""
        wanted = {canonical_stage(s) for s in stages} if stages else set(ALL_STAGES)
        model = self.get_registered_model(name)
        return [mv for mv in model.latest_versions if mv.current_stage in wanted]

    def set_model_version_tag(self, name: str, version: object, key: str, value: str) -> None:
        key, value = check_tag(key, value)
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            upsert(conn, t.model_version_tags, [{"name": name, "version": row.version, "key": key, "value": value}],
                   ["name", "version", "key"], ["value"])

    def delete_model_version_tag(self, name: str, version: object, key: str) -> None:
        check_tag(key, "")
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            tags = t.model_version_tags.c
            conn.execute(t.model_version_tags.delete().where(
                tags.name == name, tags.version == row.version, tags.key == key))
