"""Migrations and table definitions stay in lockstep, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import opsloop.storage.sql.schema_aiops  # noqa: F401 - registers its tables on the metadata
import opsloop.storage.sql.schema_logs  # noqa: F401
import opsloop.storage.sql.schema_traces  # noqa: F401
from opsloop.storage.sql import open_database
from opsloop.storage.sql.schema import metadata


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrated_schema_matches_the_table_definitions(backend: str, tmp_path, request) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    open_database(url).dispose()  # a second start migrates nothing and fails nothing
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    db.dispose()
    assert diff == []
