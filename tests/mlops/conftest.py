"""Fixtures shared by the MLOps tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.mlops.monitoring import InMemoryMonitoringStore, SqlMonitoringStore
from opsloop.mlops.monitoring.store import MonitoringStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def monitoring_store(request: pytest.FixtureRequest, tmp_path: Path) -> MonitoringStore:
    """A monitoring store of each backend: in memory, SQLite and PostgreSQL."""
    if request.param == "memory":
        return InMemoryMonitoringStore()
    if request.param == "postgres":
        return SqlMonitoringStore(request.getfixturevalue("postgres_url"))
    return SqlMonitoringStore(f"sqlite:///{tmp_path / 'monitoring.db'}")
