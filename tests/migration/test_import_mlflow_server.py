"""``opsloop import-mlflow`` from a real ``mlflow server`` (SQLite backend, proxied artifacts): the case the
community export tool fails on, MLflow 3 model versions whose source is ``models:/m-…``."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, free_port, wait_http
from tests.migration.conftest import finish_fill, run_cli, start_fill


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    root = tmp_path / "mlflow-server"
    root.mkdir()
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
                             f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "artifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            # no background job runner (its huey workers): an import does not need it
                            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:  # the server's own group: uvicorn runs in a child process
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def test_an_mlflow_server_is_imported_and_its_champion_predicts_the_same(
        mlflow_server: str, destination: ServerProcess, tmp_path: Path) -> None:
    import mlflow
    import numpy as np
    import pandas as pd

    filled = finish_fill(start_fill(mlflow_server, tmp_path / "work", "--small", "--prefix=srv-"))
    code, out, err = run_cli("import-mlflow", "--from", mlflow_server, "--to", destination.url,
                             "--experiment", "srv-churn-exp", "--json")
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    assert summary["counts"]["runs"]["copied"] == 2
    assert summary["counts"]["model_versions"]["copied"] == 2  # srv-churn/1, srv-legacy/1
    assert summary["counts"]["aliases"]["copied"] == 2

    src = mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    dst = mlflow.MlflowClient(tracking_uri=destination.url, registry_uri=destination.url)
    new_parent = summary["ids"]["runs"][filled["parent_run"]]
    assert dst.get_run(new_parent).data.params == src.get_run(filled["parent_run"]).data.params
    assert len(dst.get_metric_history(new_parent, "loss")) == 1500
    child = dst.get_run(summary["ids"]["runs"][filled["child_run"]])
    assert child.data.tags["mlflow.parentRunId"] == new_parent
    a = Path(src.download_artifacts(filled["parent_run"], "weights.bin", str(tmp_path / "a")))
    b = Path(dst.download_artifacts(new_parent, "weights.bin", str(tmp_path / "b")))
    assert filecmp.cmp(a, b, shallow=False)

    legacy = dst.get_model_version("srv-legacy", "1")
    assert legacy.source == dst.get_run(new_parent).info.artifact_uri + "/legacy-model"
    version = dst.get_model_version("srv-churn", "1")
    assert version.source == f"models:/{summary['ids']['logged_models'][filled['model_ids'][0]]}"
    assert version.current_stage == "Staging"
    frame = pd.DataFrame(np.arange(12, dtype=float).reshape(4, 3), columns=["a", "b", "c"])
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    expected = mlflow.pyfunc.load_model("models:/srv-churn@champion").predict(frame)
    mlflow.set_tracking_uri(destination.url)
    mlflow.set_registry_uri(destination.url)
    np.testing.assert_allclose(mlflow.pyfunc.load_model("models:/srv-churn@champion").predict(frame), expected)
