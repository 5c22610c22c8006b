"""The SQL model registry: registered models, versions, tags, aliases, audited promotions, validations.

MLflow's semantics (names, version numbering, redacted deletes, search grammar) on SQLite and
PostgreSQL. Every alias change (``promote``, ``delete_registered_model_alias``, and the deletions that
drop aliases) leaves a ``model_promotions`` row through ``_audit``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from opsloop.errors import AlreadyExistsError, InvalidInputError, NotFoundError, OpsloopError
from opsloop.mlops.registry import promotion as rules
from opsloop.mlops.registry.entities import Lineage, ModelVersion, Promotion, RegisteredModel, Validation
from opsloop.mlops.registry.identifiers import (
    LATEST_ALIAS,
    check_alias,
    check_model_name,
    check_tag,
    parse_version,
)
from opsloop.mlops.registry.sources import ResolvedSource, resolve_source
from opsloop.mlops.registry.stages import ACTIVE_STAGES, ALL_STAGES, ARCHIVED, canonical_stage
from opsloop.mlops.registry.uris import ModelUri, parse_model_uri
from opsloop.mlops.tracking.search import Clause, decode_page_token, encode_page_token, parse_filter
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import chunks, inserted_id, upsert
from opsloop.storage.sql._run_query import compare
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.tracking import SqlTrackingStore

__all__ = ["SqlRegistryStore"]

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"
REDACTED = {"description": None, "user_id": None, "source": "REDACTED-SOURCE-PATH", "run_id": "REDACTED-RUN-ID",
            "run_link": "REDACTED-RUN-LINK", "status_message": None, "storage_location": None}
MAX_RESULTS_MODELS, DEFAULT_RESULTS_MODELS = 1000, 100
MAX_RESULTS_VERSIONS, DEFAULT_RESULTS_VERSIONS = 200_000, 10_000

_RM, _MV = t.registered_models.c, t.model_versions.c
MODEL_ATTRIBUTES = {"name": "name", "creation_timestamp": "creation_time", "last_updated_timestamp": "last_updated_time"}
VERSION_ATTRIBUTES = {
    "name": "name", "version_number": "version", "version": "version", "run_id": "run_id", "source_path": "source",
    "source": "source", "model_id": "model_id", "current_stage": "current_stage",
    "creation_timestamp": "creation_time", "last_updated_timestamp": "last_updated_time",
}
_NUMERIC = {"version", "creation_time", "last_updated_time"}
MODEL_ORDER = {"name": _RM.name, "timestamp": _RM.last_updated_time, "last_updated_timestamp": _RM.last_updated_time,
               "creation_timestamp": _RM.creation_time}
VERSION_ORDER = {"name": _MV.name, "version_number": _MV.version, "creation_timestamp": _MV.creation_time,
                 "last_updated_timestamp": _MV.last_updated_time, "timestamp": _MV.last_updated_time}
_TAG_OPS = {"=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _max_results(value: object, default: int, limit: int) -> int:
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInputError(f"Invalid value for request parameter max_results. It must be an integer between 1 "
                                f"and {limit}, but got value {value}", field="max_results")
    return value


def _order_clauses(items: Sequence[str] | None, columns: Mapping[str, Any], tiebreak: Sequence[Any]) -> list:
    """``["name ASC", "last_updated_timestamp DESC"]`` → ORDER BY terms, then the tiebreak columns not used."""
    out, seen = [], set()
    for raw in items or []:
        words = raw.split() if isinstance(raw, str) else []
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise InvalidInputError(f"Invalid order_by clause {raw!r}", field="order_by")
        col = columns.get(words[0].removeprefix("attributes.").removeprefix("attribute."))
        if col is None:
            raise InvalidInputError(f"Invalid order by key '{words[0]}' specified. Valid keys are "
                                    f"{sorted(columns)}", field="order_by")
        if col.key in seen:
            raise InvalidInputError(f"`order_by` contains duplicate fields: {list(items or [])}", field="order_by")
        seen.add(col.key)
        out.append(col.desc() if len(words) == 2 and words[1].upper() == "DESC" else col.asc())
    return out + [term for term in tiebreak if term.element.key not in seen]


def _queries_prompts(clauses: Iterable[Clause]) -> bool:
    for c in clauses:
        if c.entity == "tag" and c.key == IS_PROMPT_TAG and isinstance(c.value, str):
            return (c.op == "=" and c.value.lower() == "true") or (c.op == "!=" and c.value.lower() == "false")
    return False


def _tag_condition(subject: Any, key_cols: Sequence[Any], tags: Any, clause: Clause) -> Any:
    """``subject`` (a column or tuple) has (or lacks) a tag matching ``clause``."""
    if clause.op not in _TAG_OPS:
        raise InvalidInputError(f"Invalid comparator for tag: {clause.op}", field="filter")
    has_key = select(*key_cols).where(tags.c.key == clause.key)
    if clause.op == "IS NULL":
        return subject.not_in(has_key)
    if clause.op == "IS NOT NULL":
        return subject.in_(has_key)
    return subject.in_(has_key.where(compare(tags.c.value, clause.op, clause.value)))


def _attribute_condition(col: Any, clause: Clause) -> Any:
    value = clause.value
    if col.key in _NUMERIC:
        if not isinstance(value, float) or not value.is_integer():
            raise InvalidInputError(f"Invalid value for numeric attribute '{clause.key}': {value!r}", field="filter")
        value = int(value)
    return compare(col, clause.op, value)


class SqlRegistryStore:
    """MLflow-semantics model registry on SQLite or PostgreSQL, with audited promotions.

    Args:
        db: the opened database (the tracking store's).
        tracking: the tracking store, for runs and logged models that versions come from.
    """

    def __init__(self, db: Database, tracking: SqlTrackingStore) -> None:
        self.db = db
        self.tracking = tracking

    # -- registered models --------------------------------------------------------------------------

    def create_registered_model(self, name: str, tags: Mapping[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        check_model_name(name)
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

    @staticmethod
    def _model_row(conn: Connection, name: object, missing_ok: bool = False, lock: bool = False):  # noqa: ANN205
        check_model_name(name)
        query = select(t.registered_models).where(_RM.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None and not missing_ok:
            raise NotFoundError(f"Registered Model with name={name} not found", field="name")
        return row

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
        check_model_name(new_name, "new_name")
        now = _now_ms()
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

    def search_registered_models(self, filter_string: str | None = None, max_results: int | None = None,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> tuple[list[RegisteredModel], str | None]:
        """Models matching ``name LIKE 'x%' AND tags.k = 'v'``; ordered by name, then the given keys."""
        limit = _max_results(max_results, DEFAULT_RESULTS_MODELS, MAX_RESULTS_MODELS)
        clauses = parse_filter(filter_string, MODEL_ATTRIBUTES, _NUMERIC)
        query = select(_RM.name)
        for clause in self._without_prompt_clause(clauses):
            query = query.where(self._model_condition(clause))
        if not _queries_prompts(clauses):
            query = query.where(_RM.name.not_in(self._prompt_names()))
        query = query.order_by(*_order_clauses(order_by, MODEL_ORDER, [_RM.name.asc()]))
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            names = [r[0] for r in conn.execute(query.offset(offset).limit(limit + 1))]
            found = self._load_models(conn, names[:limit])
        return found, (encode_page_token(offset + limit) if len(names) > limit else None)

    @staticmethod
    def _without_prompt_clause(clauses: list[Clause]) -> list[Clause]:
        if _queries_prompts(clauses):
            return clauses
        return [c for c in clauses if not (c.entity == "tag" and c.key == IS_PROMPT_TAG)]

    @staticmethod
    def _prompt_names() -> Any:
        tags = t.registered_model_tags.c
        return select(tags.name).where(tags.key == IS_PROMPT_TAG, func.lower(tags.value) == "true")

    @staticmethod
    def _model_condition(clause: Clause) -> Any:
        if clause.entity == "attribute":
            return _attribute_condition(_RM[clause.key], clause)
        if clause.entity == "tag":
            tags = t.registered_model_tags
            return _tag_condition(_RM.name, [tags.c.name], tags, clause)
        raise InvalidInputError(f"Invalid filter on {clause.entity} {clause.key!r}: registered models can be "
                                "filtered by name and tags", field="filter")

    # -- model versions -----------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: Mapping[str, str] | None = None, run_link: str | None = None,
                             description: str | None = None, model_id: str | None = None,
                             user_id: str | None = None) -> ModelVersion:
        """Register the next version of ``name`` from ``source`` (``models:/m-…``, ``runs:/…``,
        ``mlflow-artifacts:/…`` inside the run's or logged model's artifacts, ``models:/NAME/V``); the rules
        are in ``opsloop.mlops.registry.sources``."""
        check_model_name(name)
        tag_rows = [dict(zip(("key", "value"), check_tag(k, v), strict=True)) for k, v in (tags or {}).items()]
        found = resolve_source(source, run_id or None, model_id or None, tracking=self.tracking,
                               resolve_version=self.resolve_version)
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

    @staticmethod
    def _version_row(conn: Connection, name: str, version: object):  # noqa: ANN205
        check_model_name(name)
        number = parse_version(version)
        row = conn.execute(select(t.model_versions).where(_MV.name == name, _MV.version == number, ~_MV.deleted)
                           ).first()
        if row is None:
            raise NotFoundError(f"Model Version (name={name}, version={number}) not found", field="version")
        return row

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

    def search_model_versions(self, filter_string: str | None = None, max_results: int | None = None,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None) -> tuple[list[ModelVersion], str | None]:
        """Versions matching ``name = 'x' AND run_id = '…' AND tags.k = 'v'`` (also ``version_number``,
        ``source_path``, ``model_id``); newest-updated first unless ``order_by`` says otherwise."""
        limit = _max_results(max_results, DEFAULT_RESULTS_VERSIONS, MAX_RESULTS_VERSIONS)
        clauses = parse_filter(filter_string, VERSION_ATTRIBUTES, _NUMERIC)
        query = select(_MV.name, _MV.version).where(~_MV.deleted)
        for clause in self._without_prompt_clause(clauses):
            query = query.where(self._version_condition(clause))
        if not _queries_prompts(clauses):
            query = query.where(_MV.name.not_in(self._prompt_names()))
        default = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
        query = query.order_by(*_order_clauses(order_by or default, VERSION_ORDER,
                                               [_MV.name.asc(), _MV.version.desc()]))
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            keys = [(r[0], r[1]) for r in conn.execute(query.offset(offset).limit(limit + 1))]
            found = self._load_versions(conn, keys[:limit])
        return found, (encode_page_token(offset + limit) if len(keys) > limit else None)

    @staticmethod
    def _version_condition(clause: Clause) -> Any:
        if clause.entity == "attribute":
            return _attribute_condition(_MV[clause.key], clause)
        if clause.entity == "tag":
            tags = t.model_version_tags
            return _tag_condition(tuple_(_MV.name, _MV.version), [tags.c.name, tags.c.version], tags, clause)
        raise InvalidInputError(f"Invalid filter on {clause.entity} {clause.key!r}: model versions can be "
                                "filtered by name, version_number, run_id, source_path, model_id and tags",
                                field="filter")

    # -- aliases and promotions -----------------------------------------------------------------------

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``@alias`` points to; ``latest`` is the highest live version."""
        check_alias(alias)
        with self.db.read() as conn:
            self._model_row(conn, name)
            if alias.lower() == LATEST_ALIAS:
                number = conn.execute(select(func.max(_MV.version)).where(_MV.name == name, ~_MV.deleted)).scalar()
            else:
                al = t.registered_model_aliases.c
                number = conn.execute(select(al.version).where(al.name == name, al.alias == alias)).scalar()
            if number is None:
                raise NotFoundError(f"Registered model alias {alias} not found for model {name}.", field="alias")
            return self._load_versions(conn, [(name, number)])[0]

    def set_registered_model_alias(self, name: str, alias: str, version: object, actor: str = "",
                                   reason: str = "") -> Promotion:
        """MLflow's alias set: a promotion that needs a validation only when the model's policy says so."""
        return self.promote(name, alias, version, actor=actor, reason=reason, require_validation=False)

    def delete_registered_model_alias(self, name: str, alias: str, actor: str = "",
                                      reason: str = "") -> Promotion | None:
        """Remove ``@alias`` (audited); removing an alias that is not set does nothing, as in MLflow."""
        check_alias(alias)
        with self.db.write() as conn:
            model = self._model_row(conn, name, lock=True)
            al = t.registered_model_aliases.c
            current = conn.execute(select(al.version).where(al.name == name, al.alias == alias)).scalar()
            if current is None:
                return None
            reason = reason or self._take_reason(conn, name)
            conn.execute(t.registered_model_aliases.delete().where(al.name == name, al.alias == alias))
            conn.execute(update(t.registered_models).where(_RM.name == model.name)
                         .values(last_updated_time=_now_ms()))
            return self._audit(conn, name, alias, current, None, actor, reason)

    def promote(self, name: str, alias: str, version: object, actor: str = "", reason: str = "",
                require_validation: bool = False) -> Promotion:
        """Point ``@alias`` at ``version`` under the promotion rules (``mlops.registry.promotion``).

        Raises:
            NotFoundError: the model or the version does not exist.
            InvalidStateError: a validation is required and none (or a stale one) is recorded.
            ValidationFailedError: a validation is required and the newest one failed.
        """
        check_alias(alias, for_write=True)
        with self.db.write() as conn:
            self._model_row(conn, name, lock=True)
            row = self._version_row(conn, name, version)
            tags = dict(conn.execute(select(t.registered_model_tags.c.key, t.registered_model_tags.c.value)
                                     .where(t.registered_model_tags.c.name == name)).all())
            al = t.registered_model_aliases.c
            current = conn.execute(select(al.version).where(al.name == name, al.alias == alias)).scalar()
            validation_id = None
            if rules.validation_required(alias, tags, require_validation):
                latest = self._latest_validation(conn, name, row.version)
                validation_id = rules.check_validation(name, alias, row.version, latest, current).id
            reason = reason or self._take_reason(conn, name)
            upsert(conn, t.registered_model_aliases, [{"name": name, "alias": alias, "version": row.version}],
                   ["name", "alias"], ["version"])
            conn.execute(update(t.registered_models).where(_RM.name == name).values(last_updated_time=_now_ms()))
            return self._audit(conn, name, alias, current, row.version, actor, reason, validation_id)

    @staticmethod
    def _take_reason(conn: Connection, name: str) -> str:
        """The one-shot reason tag (``promotion.REASON_TAG``), removed once a move has used it."""
        tags = t.registered_model_tags.c
        reason = conn.execute(select(tags.value).where(tags.name == name, tags.key == rules.REASON_TAG)).scalar()
        if reason is None:
            return ""
        conn.execute(t.registered_model_tags.delete().where(tags.name == name, tags.key == rules.REASON_TAG))
        return reason

    @staticmethod
    def _audit(conn: Connection, name: str, alias: str, from_version: int | None, to_version: int | None,
               actor: str, reason: str, validation_id: int | None = None) -> Promotion:
        actor, reason, now = actor or rules.ANONYMOUS, reason or "", _now_ms()
        new_id = inserted_id(conn.execute(t.model_promotions.insert().values(
            name=name, alias=alias, from_version=from_version, to_version=to_version, actor=actor, reason=reason,
            validation_id=validation_id, time=now)))
        return Promotion(new_id, name, alias, from_version, to_version, actor, reason, validation_id, now)

    def promotion_history(self, name: str, alias: str | None = None) -> list[Promotion]:
        """Every audited alias move of ``name`` (also of a deleted model), oldest first."""
        check_model_name(name)
        p = t.model_promotions.c
        query = select(t.model_promotions).where(p.name == name).order_by(p.time, p.id)
        if alias is not None:
            query = query.where(p.alias == check_alias(alias))
        with self.db.read() as conn:
            return [Promotion(r.id, r.name, r.alias, r.from_version, r.to_version, r.actor, r.reason,
                              r.validation_id, r.time) for r in conn.execute(query)]

    # -- validations and lineage ---------------------------------------------------------------------

    def record_validation(self, name: str, version: object, champion_version: object | None, passed: bool,
                          report: Mapping[str, Any]) -> int:
        """Store a validation report of ``version`` (compared with ``champion_version``); returns its id."""
        if not isinstance(passed, bool):
            raise InvalidInputError("'passed' must be true or false", field="passed")
        try:
            report_json = json.dumps(dict(report), allow_nan=False, default=str)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"The validation report is not JSON: {exc}", field="report") from None
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            champion = None
            if champion_version is not None:
                champion = self._version_row(conn, name, champion_version).version
            return inserted_id(conn.execute(t.model_validations.insert().values(
                name=name, version=row.version, champion_version=champion, passed=passed, report_json=report_json,
                time=_now_ms())))

    @staticmethod
    def _validation(r: Any) -> Validation:
        return Validation(r.id, r.name, r.version, r.champion_version, bool(r.passed), json.loads(r.report_json),
                          r.time)

    def _latest_validation(self, conn: Connection, name: str, version: int) -> Validation | None:
        v = t.model_validations.c
        row = conn.execute(select(t.model_validations).where(v.name == name, v.version == version)
                           .order_by(v.time.desc(), v.id.desc()).limit(1)).first()
        return self._validation(row) if row else None

    def list_validations(self, name: str, version: object) -> list[Validation]:
        """The validations of a version, newest first."""
        v = t.model_validations.c
        with self.db.read() as conn:
            row = self._version_row(conn, name, version)
            rows = conn.execute(select(t.model_validations).where(v.name == name, v.version == row.version)
                                .order_by(v.time.desc(), v.id.desc())).all()
        return [self._validation(r) for r in rows]

    def get_validation(self, validation_id: int) -> Validation:
        with self.db.read() as conn:
            row = conn.execute(select(t.model_validations).where(t.model_validations.c.id == validation_id)).first()
        if row is None:
            raise NotFoundError(f"Validation {validation_id} not found", field="validation_id")
        return self._validation(row)

    def lineage(self, name: str, version: object) -> Lineage:
        """The version's run, the run's dataset inputs and metrics, and its logged model (with its metrics)."""
        mv = self.get_model_version(name, version)
        out = Lineage(mv)
        if mv.run_id:
            try:
                out.run = self.tracking.get_run(mv.run_id)
            except OpsloopError:  # a run of another tracking server, or since purged
                out.run = None
        if mv.model_id:
            try:
                out.logged_model = self.tracking.get_logged_model(mv.model_id, allow_deleted=True)
            except NotFoundError:
                out.logged_model = None
        if out.run is not None:
            out.datasets = list(out.run.dataset_inputs)
            out.metrics = list(out.run.metrics)
        if out.logged_model is not None:
            seen = {(m.key, m.run_id) for m in out.metrics}
            out.metrics += [m for m in out.logged_model.metrics if (m.key, m.run_id) not in seen]
        return out

    # -- model URIs -------------------------------------------------------------------------------------

    def resolve_version(self, uri: ModelUri) -> ModelVersion:
        """The registered version a ``models:/NAME/…`` URI names (version, alias, latest or stage)."""
        if uri.kind == "version":
            return self.get_model_version(uri.name, uri.version)
        if uri.kind == "alias":
            return self.get_model_version_by_alias(uri.name, uri.alias or "")
        if uri.kind == "latest":
            return self.get_model_version_by_alias(uri.name, LATEST_ALIAS)
        if uri.kind == "stage":
            found = self.get_latest_versions(uri.name, [uri.stage or ""])
            if not found:
                raise NotFoundError(f"No version of {uri.name} is in stage {uri.stage}", field="stage")
            return found[0]
        raise InvalidInputError(f"{uri.kind} URIs do not name a registered version", field="model_uri")

    def artifact_uri(self, model_uri: str) -> str:
        """Where the files of ``model_uri`` are (an ``mlflow-artifacts:`` URI on an opsloop server)."""
        uri = parse_model_uri(model_uri)
        if uri.kind == "run":
            root = self.tracking.get_run(uri.name).info.artifact_uri.rstrip("/")
            return f"{root}/{uri.path}" if uri.path else root
        if uri.kind == "logged_model":
            return self.tracking.get_logged_model(uri.name).artifact_uri
        return self.resolve_version(uri).download_uri
