"""SDK fixtures: one real ``opsloop server`` per test module, and clients over each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.sdk import Client
from tests.conftest import ServerProcess


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = ServerProcess(tmp_path_factory.mktemp("server") / "data").start()
    yield server.url
    server.stop()


@pytest.fixture(params=["local", "http"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A client on the embedded store (a fresh data folder) or on a real server."""
    if request.param == "http":
        c = Client(request.getfixturevalue("server_url"))
    else:
        c = Client(data_dir=tmp_path / "store")
    yield c
    c.close()


def delete_run(client: Client, run_id: str) -> None:
    """Delete a run behind the SDK's back (the SDK has no delete), to make the next write fail."""
    if client.url:
        import httpx

        httpx.post(f"{client.url}/api/2.0/mlflow/runs/delete", json={"run_id": run_id}).raise_for_status()
    else:
        client.transport._runtime.tracking.delete_run(run_id)
