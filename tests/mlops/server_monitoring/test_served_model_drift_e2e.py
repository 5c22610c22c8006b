"""A real `opsloop server` monitors the models it scores at /serving: a reference logged with the real
mlflow client, drifted traffic, the scheduled check, a model_drift signal and an AIOps incident for the
model, which resolves once the traffic is back in line; labels give live performance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from tests._models import register_sklearn_champion
from tests.conftest import ServerProcess, wait_until

MON = "/api/opsloop/v1/monitoring"
INCIDENTS = "/api/opsloop/v1/incidents"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Every request sampled, and a check every second."""
    env = {"OPSLOOP_MONITORING__SAMPLE_RATE": "1", "OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "1"}
    running = ServerProcess(tmp_path_factory.mktemp("monitored") / "data", env=env).start()
    yield running
    running.stop()


def _frame(seed: int, rows: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows) + shift, "b": rng.normal(size=rows) + shift})


def _score(http: httpx.Client, name: str, frame: pd.DataFrame, batch: int = 100) -> list[tuple[str, list[int]]]:
    """Score ``frame`` at /serving in batches; the request id and predictions of each."""
    out = []
    for start in range(0, len(frame), batch):
        part = frame.iloc[start:start + batch]
        r = http.post(f"/serving/{name}/champion/invocations",
                      json={"dataframe_split": {"columns": list(part.columns), "data": part.to_numpy().tolist()}})
        assert r.status_code == 200, r.text
        out.append((r.headers["x-request-id"], r.json()["predictions"]))
    return out


def _log_reference(url: str, tmp: Path) -> str:
    """The reference data logged as a run artifact; its runs:/ URI."""
    path = tmp / "reference.parquet"
    _frame(1, 1000).to_parquet(path)
    mlflow.set_tracking_uri(url)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(path), artifact_path="data")
    return f"runs:/{run.info.run_id}/data/reference.parquet"


def _incidents(http: httpx.Client, service: str, state: str | None = None) -> list[dict]:
    params = {"service": service, **({"state": state} if state else {})}
    return http.get(INCIDENTS, params=params).json()["incidents"]


def test_drifted_traffic_opens_an_incident_that_resolves_when_traffic_is_back(
        server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    register_sklearn_champion(server.url, "churn")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _score(http, "churn", _frame(2, 20))  # loaded and served before the reference: its model profiles it
        ref = http.post(f"{MON}/models/churn/reference",
                        json={"path": _log_reference(server.url, tmp_path), "drift": {"window": 300}})
        assert ref.status_code == 200, ref.text
        doc = ref.json()
        assert doc["rows"] == 1000 and doc["features"] == {"a": "numeric", "b": "numeric"}
        assert doc["predictions"] is True and doc["model_uri"] == "models:/churn@champion"
        assert http.get(f"{MON}/models").json()["models"] == ["churn"]

        _score(http, "churn", _frame(3, 300, shift=3.0))
        fired = wait_until(lambda: [s for s in http.get(f"{MON}/signals", params={"model": "churn"}).json()["signals"]
                                    if s["kind"] == "model_drift" and s["status"] == "firing"])
        assert {s["labels"]["feature"] for s in fired} >= {"a", "b"}
        assert all(s["service"] == "churn" for s in fired)
        [incident] = wait_until(lambda: _incidents(http, "churn", "triggered"))
        assert incident["service"] == "churn"
        status = http.get(f"{MON}/models/churn").json()
        assert status["samples"] >= 300 and {"a", "b"} <= set(status["drifted"])

        _score(http, "churn", _frame(4, 300))  # the newest 300 rows (the window) are like the reference again
        wait_until(lambda: [i for i in _incidents(http, "churn") if i["id"] == incident["id"]
                            and i["state"] == "resolved"])
        resolved = http.get(f"{MON}/signals", params={"model": "churn", "kind": "model_drift"}).json()["signals"]
        assert {s["labels"]["feature"] for s in resolved if s["status"] == "resolved"} >= {"a", "b"}


def test_labels_give_live_performance_and_a_breach_opens_an_incident(
        server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    register_sklearn_champion(server.url, "fraud")
    reference = _frame(5, 500)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        body = {"dataframe_records": reference.to_dict(orient="records"), "ref": "champion",
                "performance": {"min_accuracy": 0.9}}
        assert http.post(f"{MON}/models/fraud/reference", json=body).status_code == 200
        scored = _score(http, "fraud", _frame(6, 60), batch=20)
        wait_until(lambda: http.get(f"{MON}/models/fraud").json()["samples"] >= 60)
        for request_id, preds in scored:  # every label the opposite of the prediction
            r = http.post(f"{MON}/models/fraud/labels", json={"request_id": request_id, "values": [1 - p for p in preds]})
            assert r.json() == {"received": 20, "matched": 20}
        perf = http.get(f"{MON}/models/fraud/performance").json()["report"]
        assert perf["task"] == "classification" and perf["labelled"] == 60 and perf["metrics"]["accuracy"] == 0.0
        checked = http.post(f"{MON}/models/fraud/performance").json()
        assert [(s["kind"], s["status"], s["labels"]["metric"]) for s in checked["signals"]] == \
            [("model_performance", "firing", "accuracy")]
        [incident] = wait_until(lambda: _incidents(http, "fraud", "triggered"))
        assert incident["service"] == "fraud"


def test_the_cli_sets_the_reference_and_checks_drift_on_the_server(
        server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from opsloop.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    register_sklearn_champion(server.url, "upsell")
    _frame(7, 400).to_csv(tmp_path / "ref.csv", index=False)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _score(http, "upsell", _frame(8, 200, shift=-3.0))
        wait_until(lambda: http.get(f"{MON}/models/upsell").json()["samples"] >= 200)
    cli = ["--url", server.url, "models"]
    assert main([*cli, "reference", "upsell", "--data", str(tmp_path / "ref.csv"), "--min-accuracy", "0.8"]) == 0
    assert "400 rows, 3 columns profiled" in capsys.readouterr().out  # a, b and the prediction
    assert main([*cli, "drift", "upsell"]) == 0
    out = capsys.readouterr().out
    assert "200 recent rows vs 400 reference rows" in out and "DRIFT a" in out and "DRIFT b" in out
    assert main([*cli, "signals", "--model", "upsell", "--kind", "model_drift", "--json"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert docs and {d["service"] for d in docs} == {"upsell"}
    assert main([*cli, "performance", "upsell", "--min-accuracy", "0.5"]) == 1
    assert "kept with the reference" in capsys.readouterr().err
    assert main([*cli, "drift", "no-such-model"]) == 1
    assert "no-such-model" in capsys.readouterr().err
