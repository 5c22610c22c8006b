"""Labels a client can post that the store or the metrics cannot take: a row past the database's INTEGER
(a 500 from SQLite or PostgreSQL, and the connection dropped), a boolean row (read as row 1), a request id
that is null (filed as the string "None"), an integer label past a float's range (stored, then a 500 of
every performance check of the model, and of each scheduled round)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsloop.mlops.monitoring.records import GroundTruth, PredictionSample
from opsloop.server.app import create_app
from opsloop.settings import load_settings

MON = "/api/opsloop/v1/monitoring"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("label-bounds")
    settings = load_settings({"storage": {"data_dir": str(data_dir)}, "monitoring": {"drift_interval_s": 0}},
                             environ={})
    with TestClient(create_app(settings)) as http:
        assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"}).status_code == 200
        http.app.state.model_monitoring.store.add_samples(  # type: ignore[attr-defined]
            [PredictionSample("m", f"r{i}", row, time.time(), {"x": 1.0}, 1) for i in range(40) for row in range(2)])
        yield http


@pytest.mark.parametrize(("body", "field"), [
    ({"labels": [{"request_id": "r0", "row": 10**30, "value": 1}]}, "row"),
    ({"labels": [{"request_id": "r0", "row": 2**31, "value": 1}]}, "row"),
    ({"labels": [{"request_id": "r0", "row": True, "value": 1}]}, "row"),
    ({"labels": [{"request_id": None, "value": 1}]}, "request_id"),
    ({"request_id": ["r0"], "value": 1}, "request_id"),
    ({"request_id": "", "value": 1}, "request_id"),
    ({"request_id": "r0", "value": 10**400}, "value"),
    ({"request_id": "r0", "values": [1, -(10**400)]}, "value"),
])
def test_a_label_the_store_or_the_metrics_cannot_take_is_a_400_naming_it(client: TestClient, body: Any,
                                                                          field: str) -> None:
    r = client.post(f"{MON}/models/m/labels", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and r.json()["field"] == field, r.text
    assert client.get(f"{MON}/models/m/performance").status_code == 200


def test_labels_of_the_last_row_and_integer_request_ids_are_taken(client: TestClient) -> None:
    r = client.post(f"{MON}/models/m/labels", json={"labels": [{"request_id": "r1", "row": 2**31 - 1, "value": 1},
                                                               {"request_id": "r1", "row": 1, "value": 1},
                                                               {"request_id": 7, "value": 0}]})
    assert r.status_code == 200 and r.json() == {"received": 3, "matched": 1}, r.text


def test_a_stored_label_past_a_floats_range_is_compared_as_text(client: TestClient) -> None:
    store = client.app.state.model_monitoring.store  # type: ignore[attr-defined]
    store.add_labels([GroundTruth("m", "r2", 0, 10**400, time.time()), GroundTruth("m", "r3", 0, 1, time.time())])
    r = client.post(f"{MON}/models/m/performance")
    assert r.status_code == 200, r.text
    report = r.json()["report"]
    assert report["task"] == "classification" and report["labelled"] >= 2
