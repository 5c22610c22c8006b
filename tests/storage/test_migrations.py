"""Migrations and table definitions stay in lockstep, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import opsloop.storage.sql.schema_aiops  # noqa: F401 - registers its tables on the metadata
import opsloop.storage.sql.schema_logs  # noqa: F401
import opsloop.storage.sql.schema_traces  # noqa: F401
from opsloop.mlops.monitoring import tables as monitoring_tables
from opsloop.storage.sql import open_database
from opsloop.storage.sql.schema import metadata


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrated_schema_matches_the_table_definitions(backend: str, tmp_path, request) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    open_database(url).dispose()  # a second start migrates nothing and fails nothing
    with db.engine.connect() as conn:
        # the monitoring tables have a metadata of their own (a standalone monitoring store creates them)
        diff = compare_metadata(MigrationContext.configure(conn), [metadata, monitoring_tables.metadata])
    db.dispose()
    assert diff == []


def test_monitoring_tables_a_server_created_without_the_migration_are_kept(tmp_path) -> None:  # noqa: ANN001
    """Servers of 2026-12-06 created the monitoring tables at start; the migration leaves them (and their
    rows) as they are."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        monitoring_tables.metadata.create_all(conn)
        conn.execute(monitoring_tables.references.insert().values(model="churn", profile="{}", time=1.0))
    engine.dispose()
    db = open_database(url)
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(monitoring_tables.references.c.model)).scalars().all() == ["churn"]
        assert compare_metadata(MigrationContext.configure(conn), [metadata, monitoring_tables.metadata]) == []
    db.dispose()


def test_processes_opening_a_new_sqlite_store_at_once_all_start(tmp_path) -> None:  # noqa: ANN001
    """Servers, SDK runs or CLI commands started together on a new data folder all migrate it or see it migrated
    (one of them failed with 'database is locked' when its migration's transaction found another writer)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    for round_ in range(15):  # a race: each round is a new store (switching it to WAL also raced)
        url = f"sqlite:///{tmp_path / f'fresh-{round_}.db'}"
        barrier = threading.Barrier(6)

        def open_and_close(_: int, url: str = url, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            open_database(url).dispose()
            return "ok"

        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(open_and_close, range(6))) == ["ok"] * 6


_RELEASE_2026_12_06 = ("a001", "d001", "l001", "p001", "r001", "t001")  # the heads of servers of that day


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_database_of_an_older_release_is_upgraded_in_place_with_its_rows(backend: str, tmp_path, request) -> None:  # noqa: ANN001
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from opsloop.mlops.tracking.entities import Dataset, DatasetInput
    from opsloop.storage.sql.engine import _MIGRATIONS
    from opsloop.storage.sql.tracking import SqlTrackingStore

    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        for revision in _RELEASE_2026_12_06:
            command.upgrade(cfg, revision)
        run_id = "a" * 32
        conn.execute(sa.text("INSERT INTO experiments VALUES (7, 'old', 'mlflow-artifacts:/7', 'active', 1, 1)"))
        conn.execute(sa.text(f"INSERT INTO runs VALUES ('{run_id}', 7, 'r', 'u', 'FINISHED', 1, 2, "
                             f"'mlflow-artifacts:/7/{run_id}/artifacts', 'active', NULL)"))
        for uuid, name in (("d1", "train"), ("d2", "eval")):
            conn.execute(sa.text(f"INSERT INTO datasets VALUES ('{uuid}', 7, '{name}', 'x{uuid}', 'local', '{{}}', "
                                 "NULL, NULL)"))
            conn.execute(sa.text(f"INSERT INTO run_inputs VALUES ('{run_id}', '{uuid}', '[]', 'training')"))
    engine.dispose()

    db = open_database(url)
    store = SqlTrackingStore(db)
    try:
        # rows of the old schema read back (inputs logged before 0003 keep no order: by dataset id)
        assert [d.dataset.name for d in store.get_run(run_id).dataset_inputs] == ["train", "eval"]
        later = store.create_run("7", "u").info.run_id
        store.log_inputs(later, [DatasetInput(Dataset("b", "2", "local", "{}")), DatasetInput(Dataset("a", "1", "local", "{}"))])
        assert [d.dataset.name for d in store.get_run(later).dataset_inputs] == ["b", "a"]
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), [metadata, monitoring_tables.metadata]) == []
    finally:
        db.dispose()
