"""Registered model and model version search: the filter and order-by grammar, prompts left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, tuple_

from opsloop.errors import InvalidInputError
from opsloop.mlops.registry.entities import ModelVersion, RegisteredModel
from opsloop.mlops.registry.sources import IS_PROMPT_TAG
from opsloop.mlops.tracking.limits import check_max_results
from opsloop.mlops.tracking.search import Clause, decode_page_token, encode_page_token, parse_filter
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._registry.base import _MV, _RM, RegistryStoreBase
from opsloop.storage.sql._run_query import compare, sql_int

MAX_RESULTS_MODELS, DEFAULT_RESULTS_MODELS = 1000, 100
MAX_RESULTS_VERSIONS, DEFAULT_RESULTS_VERSIONS = 200_000, 10_000

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


def _max_results(value: object, default: int, limit: int) -> int:
    return check_max_results(default if value is None else value, limit)  # the tracking searches' check


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
        value = sql_int(value)
    return compare(col, clause.op, value)



class RegistrySearch(RegistryStoreBase):
    """Searching registered models and model versions."""

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
