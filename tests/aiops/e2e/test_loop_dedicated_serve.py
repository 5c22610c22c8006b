"""The loop as docs/aiops.md tells it, through a dedicated ``opsloop serve`` process: it serves
``models:/NAME@champion``, samples its requests and checks their drift against ``--reference`` on its
own schedule, reports the drift to the server of ``--url``, where an incident opens and starts a
``retrain`` runbook; the candidate passes its gate and becomes ``@champion``, and the serving process
follows the alias — it answers with the new version and profiles its reference again with it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
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
from tests.conftest import OPSLOOP_BIN, free_port, wait_http, wait_until


def _frame(seed: int, rows: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows) + shift, "b": rng.normal(size=rows)})


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Any]:
    """Starts ``opsloop --url URL serve models:/MODEL@champion`` with its monitor; stopped after the test."""
    procs: list[subprocess.Popen] = []

    def start(url: str, model: str) -> httpx.Client:
        reference = tmp_path / "train.parquet"
        _frame(2, 1000).to_parquet(reference)
        port = free_port()
        with (tmp_path / "serve.log").open("ab") as log:
            procs.append(subprocess.Popen(
                [OPSLOOP_BIN, "--url", url, "serve", f"models:/{model}@champion", "--port", str(port), "-w", "1",
                 "--monitor-store", f"sqlite:///{tmp_path / 'monitor.db'}", "--reference", str(reference),
                 "--drift-interval", "1", "--sample-rate", "1", "--refresh-seconds", "1"],
                stdout=log, stderr=subprocess.STDOUT))
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=procs[-1])
        return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _send(c: httpx.Client, frame: pd.DataFrame) -> None:
    for start in range(0, len(frame), 50):
        part = frame.iloc[start:start + 50]
        r = c.post("/invocations", json={"dataframe_split": {"columns": list(part.columns),
                                                             "data": part.to_numpy().tolist()}})
        assert r.status_code == 200, r.text


def test_drift_seen_by_a_dedicated_serve_retrains_promotes_and_the_serve_follows_the_alias(
        opsloop_server, serving, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    server = opsloop_server()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    model = "churn-dedicated"
    assert register_sklearn_champion(server.url, model) == "1"
    data, script = retrain_inputs(tmp_path)
    c = httpx.Client(base_url=server.url, timeout=60)
    r = c.put(API + "/aiops/config/runbooks", json=[_retrain(
        "retrain", model, script, data, "good", {"matchers": [f'model="{model}"'], "events": ["opened"]})])
    assert r.status_code == 200, r.text
    serve = serving(server.url, model)
    first_uuid = serve.get("/health").json()["model"]["model_uuid"]

    _send(serve, _frame(6, 400, shift=3.0))  # the population moved
    [incident] = wait_until(lambda: c.get(API + "/incidents", params={"service": model}).json()["incidents"],
                            timeout=60)
    assert incident["labels"]["model"] == model and "drifted" in incident["title"], incident
    (run,) = wait_runs(c, 1, timeout=120, incident_id=incident["id"])
    assert run["state"] == "succeeded" and run["candidate_version"] == "2", run
    champion = c.get("/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": "champion"})
    assert champion.json()["model_version"]["version"] == "2"

    # The serving process follows the alias: it swaps to version 2, and its reference is profiled with it.
    health = wait_until(lambda: (h := serve.get("/health").json())["aliases"][0]["swaps"] == 1 and h, timeout=60)
    assert health["model"]["model_uuid"] != first_uuid and health["aliases"][0]["state"] == "current", health
    origin = wait_until(lambda: serve.get("/monitoring/reference").json().get("origin", {}).get("set") == "followed"
                        and serve.get("/monitoring/reference").json()["origin"], timeout=60)
    assert origin["model_uuid"] == health["model"]["model_uuid"] and origin["alias"] == "champion", origin

    timeline = c.get(f"{API}/incidents/{incident['id']}").json()["timeline"]
    kinds = {e["kind"] for e in timeline}
    assert {"signal", "opened", "runbook"} <= kinds, timeline
    texts = [e["text"] for e in timeline if e["kind"] == "runbook"]
    assert texts == ["runbook 'retrain' queued (on opened)",
                     f"runbook 'retrain': {model} version 2 passed its gate; {model}@champion → version 2"], texts
