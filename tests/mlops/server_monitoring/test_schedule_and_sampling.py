"""The pieces under the server's monitoring: one sampler writing for many models, the stores' list of
models with a reference, and the schedule, which checks on its own and stops with the app."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests._models import sampled_request
from tests.conftest import wait_until

from opsloop.mlops.monitoring import PredictionSample, SqlMonitoringStore
from opsloop.mlops.monitoring.sampling import PredictionSampler
from opsloop.mlops.monitoring.store import MonitoringStore
from opsloop.server.app import create_app
from opsloop.settings import load_settings


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    return monitoring_store


def _sample(model: str, request_id: str, x: float) -> PredictionSample:
    return PredictionSample(model, request_id, 0, time.time(), {"x": x}, 0)


@pytest.mark.parametrize("url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_request_id_sampled_twice_keeps_its_first_sample(url: str, request: pytest.FixtureRequest,
                                                            tmp_path: Path) -> None:
    db = request.getfixturevalue("postgres_url") if url == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    store = SqlMonitoringStore(db)
    store.add_samples([_sample("fraud", "r1", 1.0)])
    store.add_samples([_sample("fraud", "r1", 2.0), _sample("fraud", "r2", 3.0)])  # a client reused its id
    assert sorted((s.request_id, s.features["x"]) for s in store.list_samples("fraud")) == [("r1", 1.0), ("r2", 3.0)]


def test_reference_models_lists_the_models_with_a_reference(store: MonitoringStore) -> None:
    assert store.reference_models() == []
    store.save_reference("zeta", {"rows": 1, "features": {}})
    store.save_reference("alpha", {"rows": 1, "features": {}})
    store.save_reference("zeta", {"rows": 2, "features": {}})  # replaced, still listed once
    assert store.reference_models() == ["alpha", "zeta"]


def test_one_sampler_files_each_models_requests_under_its_name(store: MonitoringStore) -> None:
    sampler = PredictionSampler(store, "", rate=1.0, max_samples=3)
    model, data = sampled_request()
    for name in ("fraud", "churn", "churn"):
        recorder = sampler.for_model(name)
        assert recorder.wants()
        recorder.record(f"{name}-{time.monotonic_ns()}", "champion", model, data, np.asarray([0, 1]))
    assert sampler.flush() == 6
    assert store.count_samples("fraud") == 2
    assert store.count_samples("churn") == 3  # max_samples per model
    assert {s.version for s in store.list_samples("churn")} == {"u1"}


def test_the_schedule_checks_by_itself_and_stops_with_the_app(tmp_path: Path) -> None:
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}, "monitoring": {"drift_interval_s": 0.05}},
                             environ={})
    rng = np.random.default_rng(1)
    with TestClient(create_app(settings)) as http:
        assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "fraud"}).status_code == 200
        ref = {"dataframe_records": [{"amount": float(v)} for v in rng.normal(size=300)]}
        assert http.post("/api/opsloop/v1/monitoring/models/fraud/reference", json=ref).status_code == 200
        store = http.app.state.model_monitoring.store  # type: ignore[attr-defined]
        store.add_samples([PredictionSample("fraud", f"r{i}", 0, time.time(), {"amount": float(v) * 3 + 4}, 0)
                           for i, v in enumerate(rng.normal(size=200))])
        wait_until(lambda: http.get("/api/opsloop/v1/incidents", params={"service": "fraud"}).json()["incidents"],
                   timeout=30)
    assert http.app.state.model_monitoring is None  # type: ignore[attr-defined]


def test_requests_scored_just_before_are_there_for_labels_and_checks(tmp_path: Path) -> None:
    """The sampler writes every second; a check or labels posted right after scoring write first."""
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}, "monitoring": {"drift_interval_s": 0}},
                             environ={})
    with TestClient(create_app(settings)) as http:
        assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "fraud"}).status_code == 200
        sampler = http.app.state.model_monitoring.sampler  # type: ignore[attr-defined]
        sampler._stop.set()  # no background writes: only the API's own flush can store the samples
        sampler._thread.join(timeout=10)
        model, data = sampled_request()
        sampler.for_model("fraud").record("req-1", "champion", model, data, np.asarray([0, 1]))
        assert http.get("/api/opsloop/v1/monitoring/models/fraud").json()["samples"] == 2
        sampler.for_model("fraud").record("req-2", "champion", model, data, np.asarray([1, 1]))
        r = http.post("/api/opsloop/v1/monitoring/models/fraud/labels", json={"request_id": "req-2", "values": [1, 0]})
        assert r.json() == {"received": 2, "matched": 2}
