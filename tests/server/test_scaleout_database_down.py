"""A server on PostgreSQL while the database stops and starts again: a clear 503, then it recovers by itself."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from tests._postgres import PostgresCluster
from tests.conftest import free_port

pytestmark = pytest.mark.postgres


class _Cluster(PostgresCluster):
    """A private cluster this test may stop and start (the session's one is shared by other tests)."""

    def pg_ctl(self, *args: str) -> None:
        assert self.bin is not None
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        # the log file, not a pipe: the postmaster started by ``start`` would hold a pipe open
        subprocess.run(self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                                       "-l", str(self.root / "pg.log"), *args]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def cluster() -> Iterator[_Cluster]:
    if not PostgresCluster.available():
        pytest.skip("no PostgreSQL server binaries")
    found = _Cluster(Path(tempfile.mkdtemp(prefix="opsloop-pg-down-")), free_port())
    found.start()
    yield found
    found.stop()


def _log_metric(url: str, run_id: str, value: float) -> httpx.Response:
    return httpx.post(f"{url}/api/2.0/mlflow/runs/log-metric", timeout=60,
                      json={"run_id": run_id, "key": "loss", "value": value, "timestamp": 1, "step": int(value)})


def test_database_down_is_a_503_naming_it_and_the_server_recovers_when_it_is_back(opsloop_server, cluster) -> None:  # noqa: ANN001
    server = opsloop_server(extra=["--database-url", PostgresCluster.fresh_database(cluster.url)])
    client = MlflowClient(server.url)
    run_id = client.create_run("0").info.run_id
    assert _log_metric(server.url, run_id, 1).status_code == 200

    cluster.pg_ctl("-m", "fast", "stop")
    down = _log_metric(server.url, run_id, 2)
    # MLflow's clients retry a 503 with back-off; the message says what is wrong, not a driver's traceback
    assert down.status_code == 503, down.text
    assert down.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "the database is unavailable" in down.json()["message"]
    assert httpx.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}).status_code == 503

    cluster.pg_ctl("start")
    assert _log_metric(server.url, run_id, 3).status_code == 200
    history = client.get_metric_history(run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (3, 3.0)]
    assert "unhandled error" not in server.log.read_text(errors="replace")
