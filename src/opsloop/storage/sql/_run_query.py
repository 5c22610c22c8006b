"""Translate parsed MLflow search clauses into SQL over the tracking tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, func, literal, select

from opsloop.errors import InvalidInputError
from opsloop.mlops.tracking.limits import MAX_INT64
from opsloop.mlops.tracking.search import (
    EXPERIMENT_ATTRIBUTES,
    EXPERIMENT_NUMERIC_ATTRIBUTES,
    Clause,
    OrderBy,
    parse_filter,
)
from opsloop.storage.sql import schema as t

__all__ = ["build_experiment_query", "build_run_query", "compare", "sql_int"]


def sql_int(value: float) -> int:
    """A filter's number as a value for an integer column, held to the 64-bit range those columns
    store: ``start_time > 1e30`` (or ``1e400``, infinity) then matches nothing instead of failing."""
    if value != value:  # NaN
        raise InvalidInputError("NaN is not a value an integer attribute can be compared with", field="filter")
    return int(min(max(value, -MAX_INT64 - 1), MAX_INT64))


def compare(col: ColumnElement, op: str, value: object) -> ColumnElement:
    """``col <op> value`` for one of the grammar's comparators."""
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == "LIKE":
        return col.like(value)
    if op == "ILIKE":
        return func.lower(col).like(func.lower(literal(value)))
    if op == "IN":
        return col.in_(_members(op, value))
    if op == "NOT IN":
        return col.not_in(_members(op, value))
    raise InvalidInputError(f"Unsupported comparator {op!r}", field="filter")


def _members(op: str, value: object) -> list[object]:
    """The values of an ``IN`` list (the parser gives a tuple; experiment ids become a list)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InvalidInputError(f"{op} takes a list of values", field="filter")


def _kv_clause(table, clause: Clause) -> ColumnElement:  # noqa: ANN001
    c = table.c
    has_key = select(c.run_uuid).where(c.key == clause.key)
    if clause.op == "IS NULL":
        return t.runs.c.run_uuid.not_in(has_key)
    if clause.op == "IS NOT NULL":
        return t.runs.c.run_uuid.in_(has_key)
    return t.runs.c.run_uuid.in_(has_key.where(compare(c.value, clause.op, clause.value)))


def _clause(clause: Clause) -> ColumnElement:
    if clause.entity == "metric":
        lm = t.latest_metrics.c
        # NaN compares as in IEEE arithmetic (and MLflow's server): unequal to every number, in no order with any
        matches = compare(lm.value, clause.op, clause.value) & ~lm.is_nan
        if clause.op == "!=":
            matches = matches | lm.is_nan
        return t.runs.c.run_uuid.in_(select(lm.run_uuid).where(lm.key == clause.key, matches))
    if clause.entity == "param":
        return _kv_clause(t.params, clause)
    if clause.entity == "tag":
        return _kv_clause(t.tags, clause)
    if clause.entity == "dataset":
        ri, d = t.run_inputs.c, t.datasets.c
        col = ri.context if clause.key == "context" else d[clause.key]
        return t.runs.c.run_uuid.in_(select(ri.run_uuid).join_from(
            t.run_inputs, t.datasets, ri.dataset_uuid == d.dataset_uuid).where(compare(col, clause.op, clause.value)))
    col = t.runs.c[clause.key]
    if clause.op in ("IS NULL", "IS NOT NULL"):
        return col.is_(None) if clause.op == "IS NULL" else col.is_not(None)
    value = sql_int(clause.value) if isinstance(clause.value, float) else clause.value
    return compare(col, clause.op, value)


def build_run_query(
    experiment_ids: Sequence[int], stages: Sequence[str], clauses: Sequence[Clause], orders: Sequence[OrderBy]
) -> Select:
    """Run ids matching ``clauses``, ordered as MLflow orders them (missing values last)."""
    r = t.runs.c
    query = select(r.run_uuid).where(r.experiment_id.in_(list(experiment_ids)), r.lifecycle_stage.in_(list(stages)))
    for clause in clauses:
        query = query.where(_clause(clause))
    order_cols: list[ColumnElement] = []
    for i, order in enumerate(orders):
        if order.entity == "attribute":
            col = r[order.key]
        else:
            table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[order.entity]
            alias = table.alias(f"o{i}")
            query = query.outerjoin(alias, (alias.c.run_uuid == r.run_uuid) & (alias.c.key == order.key))
            col = alias.c.value
        order_cols.append(col.is_(None))
        if order.entity == "metric":  # NaN (stored as 0.0) after every number, either way, as in MLflow
            order_cols.append(alias.c.is_nan)
        order_cols.append(col.asc() if order.ascending else col.desc())
    if not any(o.entity == "attribute" and o.key == "start_time" for o in orders):
        order_cols.append(r.start_time.desc())
    order_cols.append(r.run_uuid.asc())
    return query.order_by(*order_cols)


def _experiment_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidInputError(f"Invalid experiment id {text!r} in filter", field="filter") from None
    return value if -MAX_INT64 - 1 <= value <= MAX_INT64 else -1  # no experiment has it


def build_experiment_query(stages: Sequence[str], filter_string: str | None, order_by: list[str] | None) -> Select:
    e = t.experiments.c
    query = select(e.experiment_id).where(e.lifecycle_stage.in_(list(stages)))
    for clause in parse_filter(filter_string, EXPERIMENT_ATTRIBUTES, EXPERIMENT_NUMERIC_ATTRIBUTES):
        if clause.entity == "tag":
            et = t.experiment_tags.c
            query = query.where(e.experiment_id.in_(select(et.experiment_id).where(
                et.key == clause.key, compare(et.value, clause.op, clause.value))))
        elif clause.entity == "attribute":
            value = sql_int(clause.value) if isinstance(clause.value, float) else clause.value
            if clause.key == "experiment_id" and isinstance(value, tuple):
                value = [_experiment_id(v) for v in value]
            elif clause.key == "experiment_id" and isinstance(value, str):
                value = _experiment_id(value)
            query = query.where(compare(e[clause.key], clause.op, value))
        else:
            raise InvalidInputError(f"Invalid clause on {clause.entity} in experiment filter", field="filter")
    cols = []
    for raw in order_by or []:
        parts = raw.strip().split()
        key = parts[0].split(".", 1)[-1] if parts else ""
        if key not in EXPERIMENT_ATTRIBUTES or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in (
                "ASC", "DESC")):  # "name SIDEWAYS" is refused, as in run search
            raise InvalidInputError(f"Invalid order_by clause '{raw}': expected KEY [ASC|DESC]", field="order_by")
        desc = len(parts) > 1 and parts[1].upper() == "DESC"
        cols.append(e[key].desc() if desc else e[key].asc())
    return query.order_by(*(cols or [e.last_update_time.desc()]), e.experiment_id.asc())
