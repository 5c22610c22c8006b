"""Fixtures of the server's monitoring tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.runtime import Runtime, build_runtime
from opsloop.settings import load_settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """A server's runtime on SQLite and on PostgreSQL, with a registered model ``m``."""
    storage = {"data_dir": str(tmp_path)}
    if request.param == "postgres":
        storage["database_url"] = request.getfixturevalue("postgres_url")
    runtime = build_runtime(load_settings({"storage": storage}, environ={}))
    runtime.registry.create_registered_model("m")
    yield runtime
    runtime.close()
