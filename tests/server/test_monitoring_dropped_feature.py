"""On the server, the incident a drifted feature opened resolves when the reference is set again
without that feature: the check's resolution reaches the AIOps pipeline like any other."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from tests.conftest import wait_until

from opsloop.mlops.monitoring import PredictionSample
from opsloop.server.app import create_app
from opsloop.settings import load_settings

MON = "/api/opsloop/v1/monitoring"


def test_the_incident_of_a_feature_the_new_reference_lacks_resolves(tmp_path: Path) -> None:
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}, "monitoring": {"drift_interval_s": 0}},
                             environ={})
    rng = np.random.default_rng(1)
    with TestClient(create_app(settings)) as http:
        assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "fraud"}).status_code == 200
        ref = {"dataframe_records": [{"a": float(a), "b": float(b)} for a, b in rng.normal(size=(300, 2))]}
        assert http.post(f"{MON}/models/fraud/reference", json=ref).status_code == 200
        store = http.app.state.model_monitoring.store  # type: ignore[attr-defined]
        store.add_samples([PredictionSample("fraud", f"r{i}", 0, time.time(), {"a": float(a), "b": float(b) + 4}, 0)
                           for i, (a, b) in enumerate(rng.normal(size=(200, 2)))])
        fired = http.post(f"{MON}/models/fraud/drift").json()["signals"]
        assert [(s["labels"]["feature"], s["status"]) for s in fired] == [("b", "firing")]
        [incident] = wait_until(lambda: http.get("/api/opsloop/v1/incidents", params={"service": "fraud"})
                                .json()["incidents"], timeout=30)

        ref = {"dataframe_records": [{"a": float(a)} for a in rng.normal(size=300)]}  # 'b' is gone
        assert http.post(f"{MON}/models/fraud/reference", json=ref).status_code == 200
        resolved = http.post(f"{MON}/models/fraud/drift").json()["signals"]
        assert [(s["labels"]["feature"], s["status"], s["evidence"]["reason"]) for s in resolved] == [
            ("b", "resolved", "not_in_reference")]
        wait_until(lambda: [i for i in http.get("/api/opsloop/v1/incidents", params={"service": "fraud"})
                            .json()["incidents"] if i["id"] == incident["id"] and i["state"] == "resolved"],
                   timeout=30)
