"""The server's monitoring API in-process (create_app + TestClient): bad input is a 400 naming the field,
an unknown model a 404, and one model's failing check does not stop the others'."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from opsloop.mlops.monitoring.drift import DriftPolicy
from opsloop.mlops.monitoring.records import PredictionSample
from opsloop.server.app import create_app
from opsloop.settings import load_settings

MON = "/api/opsloop/v1/monitoring"
ROWS = {"dataframe_split": {"columns": ["x", "y"], "data": [[float(i), float(i % 7)] for i in range(200)]}}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("monitoring-api")
    settings = load_settings({"storage": {"data_dir": str(data_dir)}, "monitoring": {"drift_interval_s": 0}},
                             environ={})
    with TestClient(create_app(settings)) as http:
        for name in ("m", "steady", "broken", "drifting"):
            assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": name}).status_code == 200
        yield http


def _run_id(http: TestClient) -> str:
    r = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    assert r.status_code == 200, r.text
    return r.json()["run"]["info"]["run_id"]


@pytest.mark.parametrize(("body", "field"), [
    ([1, 2], "body"),
    ({}, "body"),
    ({**ROWS, "path": "runs:/abc/x.csv"}, "path"),
    ({**ROWS, "colour": "red"}, "colour"),
    ({"dataframe_split": [1, 2]}, "dataframe_split"),
    ({"dataframe_split": {"columns": ["x"], "data": []}}, "dataframe_split"),
    ({"dataframe_records": "x,y"}, "dataframe_records"),
    ({**ROWS, "ref": ["1"]}, "ref"),
    ({**ROWS, "ref": True}, "ref"),
    ({**ROWS, "performance": {"min_accuracy": "high"}}, "performance.min_accuracy"),
    ({**ROWS, "performance": {"min_accuracy": -1}}, "performance.min_accuracy"),
    ({**ROWS, "performance": {"accuracy": 0.9}}, "performance.accuracy"),
    ({**ROWS, "performance": 0.9}, "performance"),
    ({**ROWS, "drift": {"window": 1.5}}, "drift.window"),
    ({**ROWS, "drift": {"psi_threshold": None}}, "drift.psi_threshold"),
    # bounds that can never hold, or make every check silent, were stored as given
    ({**ROWS, "performance": {"min_accuracy": 2}}, "performance.min_accuracy"),
    ({**ROWS, "performance": {"confidence": 1}}, "performance.confidence"),
    ({**ROWS, "performance": {"window": 0}}, "performance.window"),
    ({**ROWS, "drift": {"window": 0}}, "drift.window"),
    ({**ROWS, "drift": {"ks_alpha": 5}}, "drift.ks_alpha"),
    ({"path": "/etc/passwd"}, "path"),
    ({"path": ""}, "path"),
    ({"path": 42}, "path"),
])
def test_a_malformed_reference_is_a_400_naming_the_field(client: TestClient, body: Any, field: str) -> None:
    r = client.post(f"{MON}/models/m/reference", json=body)
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["error_code"] == "INVALID_PARAMETER_VALUE" and doc["field"] == field, doc


def test_a_body_that_is_not_json_is_a_400(client: TestClient) -> None:
    r = client.post(f"{MON}/models/m/reference", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/models/ghost/reference"), ("GET", "/models/ghost/reference"), ("GET", "/models/ghost"),
    ("POST", "/models/ghost/drift"), ("GET", "/models/ghost/performance"), ("POST", "/models/ghost/labels"),
])
def test_an_unknown_model_is_a_404(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, MON + path, json=ROWS)
    assert r.status_code == 404, r.text
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST" and r.json()["field"] == "model"


def test_a_missing_artifact_or_run_is_a_404(client: TestClient) -> None:
    r = client.post(f"{MON}/models/m/reference", json={"path": f"runs:/{_run_id(client)}/data/none.parquet"})
    assert r.status_code == 404 and r.json()["field"] == "path", r.text
    r = client.post(f"{MON}/models/m/reference", json={"path": "runs:/0123456789abcdef/x.parquet"})
    assert r.status_code == 404, r.text


def test_an_artifact_that_is_not_a_table_is_a_400(client: TestClient, tmp_path: Path) -> None:
    run_id = _run_id(client)
    r = client.put(f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/ref.parquet", content=b"not parquet")
    assert r.status_code == 200, r.text
    r = client.post(f"{MON}/models/m/reference", json={"path": f"runs:/{run_id}/ref.parquet"})
    assert r.status_code == 400 and r.json()["field"] == "path", r.text


def test_checks_without_a_reference_and_wrong_query_types_are_clear(client: TestClient) -> None:
    r = client.post(f"{MON}/models/m/drift")
    assert r.status_code == 404 and r.json()["field"] == "reference"
    assert client.get(f"{MON}/models/m/reference").status_code == 404
    r = client.get(f"{MON}/models/m/drift", params={"limit": "many"})
    assert r.status_code == 400 and r.json()["field"] == "limit"
    r = client.post(f"{MON}/models/m/labels", json={"request_id": "r1"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert client.get(f"{MON}/no/such/route").json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_an_inline_reference_keeps_its_thresholds(client: TestClient) -> None:
    body = {"dataframe_records": [{"x": float(i), "y": i % 3} for i in range(100)],
            "performance": {"min_accuracy": 0.9}, "drift": {"window": 500}}
    r = client.post(f"{MON}/models/steady/reference", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["rows"] == 100 and doc["features"] == {"x": "numeric", "y": "categorical"}
    assert doc["predictions"] is False and doc["model_uri"] is None  # no version registered: features only
    summary = client.get(f"{MON}/models/steady/reference").json()
    assert summary["policies"] == {"performance": {"min_accuracy": 0.9}, "drift": {"window": 500}}
    # the thresholds in effect: those set, the defaults for the rest
    assert summary["thresholds"]["drift"]["window"] == 500
    assert summary["thresholds"]["drift"]["psi_threshold"] == DriftPolicy().psi_threshold
    assert summary["thresholds"]["performance"]["min_accuracy"] == 0.9
    assert summary["thresholds"]["performance"]["max_rmse"] is None
    assert "steady" in client.get(f"{MON}/models").json()["models"]


def test_one_failing_model_does_not_stop_the_others_checks(client: TestClient) -> None:
    monitoring = client.app.state.model_monitoring  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    assert client.post(f"{MON}/models/drifting/reference",
                       json={"dataframe_records": [{"x": float(v)} for v in rng.normal(size=500)]}).status_code == 200
    monitoring.store.save_reference("broken", {"rows": 3})  # a profile without features: its check raises
    now = time.time()
    monitoring.store.add_samples([PredictionSample(name, f"r{i}", 0, now, {"x": float(v) + 5}, 0)
                                  for name in ("broken", "drifting") for i, v in enumerate(rng.normal(size=100))])
    assert monitoring.check_all() == ["drifting"]
    signals = client.get(f"{MON}/signals", params={"model": "drifting"}).json()["signals"]
    assert [(s["kind"], s["status"], s["labels"]["feature"]) for s in signals] == [("model_drift", "firing", "x")]
    incidents = client.get("/api/opsloop/v1/incidents", params={"service": "drifting"}).json()["incidents"]
    assert [i["state"] for i in incidents] == ["triggered"]
    assert monitoring.check_all() == ["drifting"]  # no new samples: no second drift report
    assert len(client.get(f"{MON}/models/drifting/drift", params={"limit": 10}).json()["reports"]) == 1


def test_the_cli_without_store_or_server_says_what_to_give(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from opsloop.cli import main

    for name in ("OPSLOOP_URL", "MLFLOW_TRACKING_URI", "OPSLOOP_MONITORING_STORE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["models", "drift", "fraud"]) == 1
    assert "give --store" in capsys.readouterr().err


@pytest.mark.parametrize("body", [
    '{"request_id": "nan-0", "value": NaN}',
    '{"request_id": "nan-0", "values": [1, Infinity]}',
    '{"labels": [{"request_id": "nan-0", "row": 0, "value": -Infinity}]}',
])
def test_a_label_that_is_not_a_finite_number_is_a_400_and_performance_still_answers(client: TestClient,
                                                                                    body: str) -> None:
    monitoring = client.app.state.model_monitoring  # type: ignore[attr-defined]
    monitoring.store.add_samples([PredictionSample("m", "nan-0", row, time.time(), {"x": 1.0}, 1)
                                  for row in range(2)])
    r = client.post(f"{MON}/models/m/labels", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "value", r.text
    r = client.get(f"{MON}/models/m/performance")
    assert r.status_code == 200, r.text


def test_a_stored_nan_label_is_left_out_of_live_performance(client: TestClient) -> None:
    from opsloop.mlops.monitoring.records import GroundTruth

    monitoring = client.app.state.model_monitoring  # type: ignore[attr-defined]
    now = time.time()
    monitoring.store.add_samples([PredictionSample("steady", f"s{i}", 0, now, {"x": 1.0}, 1) for i in range(3)])
    monitoring.store.add_labels([GroundTruth("steady", "s0", 0, float("nan"), now),
                                 GroundTruth("steady", "s1", 0, 1, now), GroundTruth("steady", "s2", 0, 0, now)])
    r = client.get(f"{MON}/models/steady/performance")
    assert r.status_code == 200, r.text
    assert r.json()["report"]["labelled"] == 2 and r.json()["report"]["metrics"]["accuracy"] == 0.5


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/signals", {"since": "abc"}, "since"),
    ("/signals", {"since": "nan"}, "since"),
    ("/signals", {"limit": "-1"}, "limit"),
    ("/signals", {"limit": "0"}, "limit"),
    ("/signals", {"limit": "100000000"}, "limit"),
    ("/models/m/drift", {"limit": "-5"}, "limit"),
])
def test_a_bad_since_or_limit_is_a_400_naming_it(client: TestClient, path: str, params: dict[str, str],
                                                 field: str) -> None:
    """since=abc answered 500; limit=-1 read every row."""
    r = client.get(MON + path, params=params)
    assert r.status_code == 400 and r.json()["field"] == field, r.text
