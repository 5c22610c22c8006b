"""The whole loop inside one ``opsloop server``, started by real traffic: the server scores its champion
at ``/serving``, samples the requests, finds their drift against the reference on its schedule, opens an
incident about the model, a ``retrain`` runbook trains a candidate with the real mlflow client, the
candidate passes its gate and becomes ``@champion``, and the server then serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests._models import register_sklearn_champion
from tests.aiops.ingestion._helpers import API
from tests.aiops.runbooks._helpers import wait_runs
from tests.aiops.runbooks.test_retraining_loop import _retrain, retrain_inputs
from tests.conftest import wait_until

MON = "/api/opsloop/v1/monitoring"


def _frame(seed: int, rows: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows) + shift, "b": rng.normal(size=rows)})


def _score(c: httpx.Client, model: str, ref: str, frame: pd.DataFrame) -> None:
    for start in range(0, len(frame), 100):
        part = frame.iloc[start:start + 100]
        r = c.post(f"/serving/{model}/{ref}/invocations",
                   json={"dataframe_split": {"columns": list(part.columns), "data": part.to_numpy().tolist()}})
        assert r.status_code == 200, r.text


def served_champion(opsloop_server: Any, monkeypatch: pytest.MonkeyPatch, model: str,
                    runbook: dict[str, Any]) -> httpx.Client:
    """A server that samples every request and checks every second, with ``runbook`` configured and
    version 1 of ``model`` as ``@champion``, its drift reference ``_frame(2, 1000)``; a client of it."""
    server = opsloop_server(env={"OPSLOOP_MONITORING__SAMPLE_RATE": "1",
                                 "OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "1"})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    assert register_sklearn_champion(server.url, model) == "1"
    c = httpx.Client(base_url=server.url, timeout=60.0)
    r = c.put(API + "/aiops/config/runbooks", json=[runbook])
    assert r.status_code == 200, r.text
    reference = {"dataframe_records": _frame(2, 1000).to_dict(orient="records"), "ref": "champion"}
    r = c.post(f"{MON}/models/{model}/reference", json=reference)
    assert r.status_code == 200 and r.json()["predictions"] is True, r.text
    return c


def test_drifted_traffic_at_serving_retrains_and_promotes_a_gated_candidate(
        opsloop_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    model = "churn-served"
    data, script = retrain_inputs(tmp_path)
    c = served_champion(opsloop_server, monkeypatch, model, _retrain(
        "retrain", model, script, data, "good", {"matchers": [f'model="{model}"'], "events": ["opened"]}))

    # Traffic like the reference: checked, nothing drifts, no incident. (The schedule may check after any
    # of the three requests; this sample drifts in none of those windows. Small windows of undrifted
    # traffic can pass the default thresholds: another seed, 3, flags its prediction share at 200 rows.)
    _score(c, model, "champion", _frame(4, 300))
    wait_until(lambda: c.get(f"{MON}/models/{model}").json().get("drifted") == [], timeout=60)
    assert c.get(API + "/incidents", params={"service": model}).json()["incidents"] == []

    # Then the population moves: the schedule finds it, an incident opens and starts the retrain.
    _score(c, model, "champion", _frame(6, 600, shift=3.0))
    [incident] = wait_until(lambda: c.get(API + "/incidents", params={"service": model}).json()["incidents"],
                            timeout=60)
    signals = c.get(API + "/signals", params={"service": model, "kind": "model_drift"}).json()["signals"]
    assert any(s["labels"].get("feature") == "a" and s["incident_id"] == incident["id"] for s in signals), signals
    (run,) = wait_runs(c, 1, timeout=120, incident_id=incident["id"])
    assert run["state"] == "succeeded", run
    assert run["runbook"] == "retrain" and run["candidate_version"] == "2"
    assert run["validation"]["passed"] and run["validation"]["promoted"]
    alias = c.get("/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": "champion"}).json()
    assert alias["model_version"]["version"] == "2"

    # The server serves the promoted candidate, and its requests are sampled under the same model.
    before = c.get(f"{MON}/models/{model}").json()["samples"]
    _score(c, model, "2", _frame(7, 100))
    assert c.get(f"{MON}/models/{model}").json()["samples"] == before + 100
    promotions = c.get(f"{API}/models/{model}/promotions").json()["promotions"]
    assert promotions[-1]["to_version"] == "2" and f"incident #{incident['id']}" in promotions[-1]["reason"]

    # Version 2's run recorded no training data: the drift reference stays version 1's, and says so
    # (test_loop_settles_on_the_new_reference has a retrain that records it).
    behind = wait_until(lambda: c.get(f"{MON}/models/{model}").json()["reference"]["behind"], timeout=30)
    assert behind["version"] == "2" and "no known training data" in behind["reason"]
