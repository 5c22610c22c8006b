"""Fixtures of the registry tests: one real ``opsloop server`` for the folder, sklearn models logged to it
with the real ``mlflow`` client, and registry stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy
from tests._environ import restore_environ
from tests._postgres import PostgresCluster
from tests.conftest import ServerProcess

from opsloop.storage.sql import open_database
from opsloop.storage.sql.registry import SqlRegistryStore
from opsloop.storage.sql.tracking import SqlTrackingStore

# The server fixtures' process wrapper, under the name these tests use.
Server = ServerProcess


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An ``opsloop server`` subprocess on a free loopback port and a temporary data folder."""
    server = ServerProcess(tmp_path_factory.mktemp("registry-server") / "data").start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def _mlflow_pointed_at(url: str) -> Iterator[str]:
    """The mlflow client's process-wide tracking and registry URIs set to ``url``, then restored."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    keys = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_DISABLE_TELEMETRY", "MLFLOW_TRACKING_URI",
            "MLFLOW_REGISTRY_URI")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    try:
        yield url
    finally:
        tracking_utils._tracking_uri = None
        registry_utils._registry_uri = None
        restore_environ(saved)


@pytest.fixture
def mlflow_at(registry_server: Server) -> Iterator[str]:
    """The real mlflow client pointed at the opsloop server (tracking and registry) for one test."""
    with _mlflow_pointed_at(registry_server.url) as url:
        yield url


@dataclass
class LoggedSklearn:
    run_id: str
    model_uri: str  # models:/m-…
    model_id: str
    X: np.ndarray
    expected: np.ndarray


def _log_sklearn(flip: bool) -> LoggedSklearn:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    if flip:
        y = 1 - y
    with mlflow.start_run() as run:
        model = LogisticRegression().fit(X, y)
        mlflow.log_param("flip", str(flip))
        mlflow.log_metric("accuracy", float((model.predict(X) == y).mean()))
        mlflow.log_input(mlflow.data.from_numpy(X, targets=y, name="train-set"), context="training")
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:1])
    return LoggedSklearn(run.info.run_id, info.model_uri, info.model_id, X, model.predict(X))


@pytest.fixture(scope="session")
def sklearn_models(registry_server: Server) -> tuple[LoggedSklearn, LoggedSklearn]:
    """Two sklearn models logged with the real mlflow client (the second predicts the opposite classes)."""
    with _mlflow_pointed_at(registry_server.url):
        return _log_sklearn(False), _log_sklearn(True)


def unique(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- stores on SQLite and PostgreSQL ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _postgres_registry_url() -> Iterator[str | None]:
    """One migrated PostgreSQL database for the session (tests empty it), or None without a server."""
    base = os.environ.get("OPSLOOP_TEST_POSTGRES_URL")
    if not base:
        yield None
        return
    url = PostgresCluster.fresh_database(base)
    open_database(url, pool_size=1).dispose()  # migrate once
    yield url


def _emptied(url: str) -> str:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            names = [n for n in sqlalchemy.inspect(conn).get_table_names() if n != "alembic_version"]
            conn.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url = request.getfixturevalue("_postgres_registry_url")
    if not url:
        pytest.skip("PostgreSQL registry tests need OPSLOOP_TEST_POSTGRES_URL (a server URL such as "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres); it is not set")
    return _emptied(url)


@dataclass
class Stores:
    tracking: SqlTrackingStore
    registry: SqlRegistryStore


@pytest.fixture
def stores(database_url: str) -> Iterator[Stores]:
    db = open_database(database_url, pool_size=2)
    tracking = SqlTrackingStore(db)
    try:
        yield Stores(tracking, SqlRegistryStore(db, tracking))
    finally:
        db.dispose()
