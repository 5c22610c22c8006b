"""The server's own health check sees a model that raises: its answers stay MLflow's 400 "the model rejected
the input", but they count with the 5xx answers in the error_rate check (model_errors in the evidence)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from tests.conftest import ServerProcess

MON = "/api/opsloop/v1/monitoring"


@pytest.fixture
def health_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "0", "OPSLOOP_MONITORING__HEALTH__WINDOW_S": "600"}
    running = ServerProcess(tmp_path_factory.mktemp("model-errors") / "data", env=env).start()
    yield running
    running.stop()


def _register_raising(url: str, name: str) -> None:
    def build() -> mlflow.pyfunc.PythonModel:  # defined here so cloudpickle saves the class by value
        class Raises(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
                if (model_input["a"] < 0).any():
                    raise ValueError("negative input: the model cannot take it")
                return [v * 2 for v in model_input["a"].tolist()]

        return Raises()

    mlflow.set_tracking_uri(url)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=build(),
                                       input_example=pd.DataFrame({"a": [1.0, 2.0]}))
    version = mlflow.register_model(info.model_uri, name).version
    MlflowClient(url).set_registered_model_alias(name, "champion", version)


def test_a_model_raising_on_every_request_fires_the_error_rate_check(health_server: ServerProcess,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", health_server.url)
    _register_raising(health_server.url, "raiser")
    with httpx.Client(base_url=health_server.url, timeout=60) as http:
        rows = [[float(i)] for i in range(50)]
        r = http.post(f"{MON}/models/raiser/reference", json={"dataframe_split": {"columns": ["a"], "data": rows},
                                                             "health": {"min_requests": 10, "max_error_rate": 0.2}})
        assert r.status_code == 200, r.text
        answers = [http.post("/serving/raiser/champion/invocations",
                             json={"dataframe_split": {"columns": ["a"], "data": [[-1.0]]}}) for _ in range(25)]
        assert {a.status_code for a in answers} == {400}  # as MLflow's scoring server answers
        assert "rejected the input" in answers[0].text
        r = http.post(f"{MON}/health")
        assert r.status_code == 200, r.text
        fired = [s for s in r.json()["signals"] if s["labels"]["check"] == "error_rate"]
        assert len(fired) == 1 and fired[0]["status"] == "firing", r.json()
        assert fired[0]["evidence"]["model_errors"] == 25
