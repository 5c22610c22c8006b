"""Registered models: create, read, rename, update and delete them, and their tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from opsloop.errors import AlreadyExistsError
from opsloop.mlops.registry.entities import RegisteredModel
from opsloop.mlops.registry.identifiers import check_new_model_name, check_tag
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import chunks, upsert
from opsloop.storage.sql._registry.base import _MV, _RM, RegistryStoreBase, _now_ms


class RegisteredModels(RegistryStoreBase):
    """Registered models of the SQL registry."""

    def create_registered_model(self, name: str, tags: Mapping[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        check_new_model_name(name)
        tag_rows = [dict(zip(("key", "value"), check_tag(k, v), strict=True)) for k, v in (tags or {}).items()]
        now = _now_ms()
        try:
            with self.db.write() as conn:
                if self._model_row(conn, name, missing_ok=True) is not None:
                    raise AlreadyExistsError(f"Registered Model (name={name}) already exists.", field="name")
                conn.execute(t.registered_models.insert().values(
                    name=name, creation_time=now, last_updated_time=now, description=description))
                if tag_rows:
                    conn.execute(t.registered_model_tags.insert(), [{"name": name, **r} for r in tag_rows])
        except IntegrityError:  # a concurrent create won the race
            raise AlreadyExistsError(f"Registered Model (name={name}) already exists.", field="name") from None
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            self._model_row(conn, name)
            return self._load_models(conn, [name])[0]

    def _load_models(self, conn: Connection, names: Sequence[str]) -> list[RegisteredModel]:
        found: dict[str, RegisteredModel] = {}
        for batch in chunks(names):
            for r in conn.execute(select(t.registered_models).where(_RM.name.in_(batch))):
                found[r.name] = RegisteredModel(r.name, r.creation_time, r.last_updated_time, r.description)
            tags = t.registered_model_tags.c
            for r in conn.execute(select(tags.name, tags.key, tags.value).where(tags.name.in_(batch))):
                found[r.name].tags[r.key] = r.value
            al = t.registered_model_aliases.c
            for r in conn.execute(select(al.name, al.alias, al.version).where(al.name.in_(batch))
                                  .order_by(al.alias)):
                found[r.name].aliases[r.alias] = r.version
            latest = (select(_MV.name, _MV.current_stage, func.max(_MV.version))
                      .where(_MV.name.in_(batch), ~_MV.deleted).group_by(_MV.name, _MV.current_stage))
            keys = [(r[0], r[2]) for r in conn.execute(latest)]
            for mv in sorted(self._load_versions(conn, keys), key=lambda v: v.version):
                found[mv.name].latest_versions.append(mv)
        return [found[n] for n in names if n in found]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        check_new_model_name(new_name, "new_name")
        now = _now_ms()
        try:
            with self.db.write() as conn:
                self._model_row(conn, name, lock=True)
                if self._model_row(conn, new_name, missing_ok=True) is not None:
                    raise AlreadyExistsError(f"Registered Model (name={new_name}) already exists.", field="new_name")
                # Foreign keys cascade the rename to tags, versions and aliases; these tables have none.
                for table in (t.model_version_tags, t.model_promotions, t.model_validations):
                    conn.execute(update(table).where(table.c.name == name).values(name=new_name))
                conn.execute(update(t.registered_models).where(_RM.name == name)
                             .values(name=new_name, last_updated_time=now))
                conn.execute(update(t.model_versions).where(_MV.name == new_name).values(last_updated_time=now))
        except IntegrityError:  # a concurrent create or rename took new_name after the check
            raise AlreadyExistsError(f"Registered Model (name={new_name}) already exists.", field="new_name") from None
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        with self.db.write() as conn:
            self._model_row(conn, name)
            conn.execute(update(t.registered_models).where(_RM.name == name)
                         .values(description=description, last_updated_time=_now_ms()))
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str, actor: str = "", reason: str = "") -> None:
        """Delete the model, its versions, tags, aliases and validations; the promotion audit stays,
        with one row per alias the deletion removed."""
        with self.db.write() as conn:
            self._model_row(conn, name, lock=True)
            al = t.registered_model_aliases.c
            for r in conn.execute(select(al.alias, al.version).where(al.name == name)).all():
                self._audit(conn, name, r.alias, r.version, None, actor, reason or "registered model deleted")
            for table in (t.registered_model_aliases, t.model_version_tags, t.model_versions,
                          t.registered_model_tags, t.model_validations):
                conn.execute(table.delete().where(table.c.name == name))
            conn.execute(t.registered_models.delete().where(_RM.name == name))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        key, value = check_tag(key, value)
        with self.db.write() as conn:
            self._model_row(conn, name)
            upsert(conn, t.registered_model_tags, [{"name": name, "key": key, "value": value}],
                   ["name", "key"], ["value"])

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag; removing a tag that is not there is not an error (as in MLflow)."""
        check_tag(key, "")
        with self.db.write() as conn:
            self._model_row(conn, name)
            tags = t.registered_model_tags
            conn.execute(tags.delete().where(tags.c.name == name, tags.c.key == key))

