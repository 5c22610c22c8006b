"""Dialect-neutral statements that SQLite and PostgreSQL both support with their own syntax."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["chunks", "comma_values", "insert_ignore", "insert_ignore_many", "inserted_id", "upsert"]


def _insert(conn: Connection, table: Table):  # noqa: ANN202
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def inserted_id(result: CursorResult[Any]) -> int:
    """The generated primary key of the row a single-row ``INSERT`` added."""
    key = result.inserted_primary_key
    if key is None:  # SQLAlchemy gives None only when the statement inserted no row
        raise RuntimeError("the INSERT returned no primary key")
    return key[0]


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose primary key already exists."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))


def insert_ignore_many(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """``insert_ignore`` for large batches of positional rows, straight to the driver's executemany.

    SQLAlchemy builds a parameter dict per row; for thousands of metric points that costs more than
    the database work, so the hot path writes the statement once and hands tuples to the driver.
    """
    if not rows:
        return
    insert = _insert_sql(conn, table, columns)
    if conn.dialect.name == "sqlite":
        sql = insert.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
    else:
        sql = f"{insert} ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(sql, list(rows))


def upsert_many(conn: Connection, table: Table, columns: Sequence[str], keys: Sequence[str],
                update: Sequence[str], rows: Sequence[tuple], *, add: Sequence[str] = ()) -> None:
    """``insert_ignore_many``, but a row whose ``keys`` exist updates its ``update`` columns (last wins)
    and adds to its ``add`` columns (a missing value counting as 0)."""
    if not rows:
        return
    sets = ", ".join([f"{c} = excluded.{c}" for c in update] +
                     [f"{c} = COALESCE({table.name}.{c}, 0) + excluded.{c}" for c in add])
    sql = f"{_insert_sql(conn, table, columns)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    conn.exec_driver_sql(sql, list(rows))


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards escaped, for a pattern used with ``escape="\\"``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    where: Any = None,
) -> None:
    """Insert rows or update ``update`` columns of the existing row (optionally only ``where`` holds)."""
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: stmt.excluded[c] for c in update},
        where=where(table, stmt.excluded) if where is not None else None,
    )
    conn.execute(stmt, list(rows))


def comma_values(text: str) -> list[str]:
    """The words of a comma-separated filter (``"triggered, acknowledged"``), blanks dropped."""
    return [w.strip() for w in text.split(",") if w.strip()]


def chunks(items: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
