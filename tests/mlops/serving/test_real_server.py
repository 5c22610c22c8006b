"""`opsloop serve` as a real process on loopback: workers, limits, startup errors, monitoring."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from .conftest import FEATURES, training_frame

BODY = {"dataframe_split": {"columns": FEATURES, "data": [[0.5, -1.0, 0.3, 2.0]]}}


def test_two_workers_score_and_share_metrics(models: dict[str, Path], serve_process) -> None:  # noqa: ANN001
    url, _ = serve_process(str(models["xgboost"]), "--workers", "2")
    with httpx.Client(base_url=url, timeout=10) as c:
        for _ in range(20):
            r = c.post("/invocations", json=BODY)
            assert r.status_code == 200 and r.json()["predictions"] in ([0], [1])
    # fresh connections may land on either worker; each answers with the total of both
    for _ in range(3):
        text = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'status="2xx"} 20' in text


def test_huge_body_is_413_and_server_keeps_serving(models: dict[str, Path], serve_process) -> None:  # noqa: ANN001
    url, _ = serve_process(str(models["sklearn"]), "--workers", "1", "--max-body-mb", "8")
    big = b'{"dataframe_split": {"columns": [], "data": [' + b"1," * (50 * 1024 * 1024) + b"1]}}"
    try:
        r = httpx.post(f"{url}/invocations", content=big, headers={"content-type": "application/json"}, timeout=30)
        assert r.status_code == 413
        assert "limit" in r.json()["message"]
    except httpx.WriteError:
        pass  # the server may close the socket before the client finished sending; it must still live
    assert httpx.post(f"{url}/invocations", json=BODY, timeout=10).status_code == 200


def test_model_that_fails_to_load_is_a_clear_startup_error(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    for target in (str(tmp_path), str(tmp_path / "missing"), "models:/nothing@champion"):
        proc = subprocess.run([sys.executable, "-c", "from opsloop.cli.serving import serve; serve()", target,
                               "--port", "0"], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_served_traffic_is_monitored_for_drift_and_accuracy(models: dict[str, Path], serve_process,  # noqa: ANN001
                                                            tmp_path: Path) -> None:
    x, _ = training_frame(2000, seed=5)
    ref = tmp_path / "reference.parquet"
    x.to_parquet(ref)
    db = tmp_path / "monitoring.db"
    url, _ = serve_process(str(models["sklearn"]), "--workers", "2", "--monitor-store", f"sqlite:///{db}",
                           "--model-name", "churn", "--sample-rate", "1", "--reference", str(ref))
    rng = np.random.default_rng(9)
    shifted = pd.DataFrame(rng.normal(size=(300, 4)), columns=FEATURES)
    shifted["income"] += 3.0  # a drifted feature
    with httpx.Client(base_url=url, timeout=10) as c:
        ids = []
        for i in range(0, 300, 30):
            chunk = shifted.iloc[i:i + 30]
            r = c.post("/invocations", json={"dataframe_split": {"columns": FEATURES,
                                                                 "data": chunk.to_numpy().tolist()}})
            assert r.status_code == 200
            ids.append((r.headers["x-request-id"], r.json()["predictions"]))
        import time

        time.sleep(2.5)  # the sampler writes in the background once a second
        for rid, preds in ids:  # the truth: every other answer is wrong
            truth = [p if j % 2 else 1 - p for j, p in enumerate(preds)]
            r = c.post("/labels", json={"request_id": rid, "values": truth})
            assert r.status_code == 200
        drift = c.post("/monitoring/drift").json()
        assert "income" in drift["report"]["drifted"] and "age" not in drift["report"]["drifted"]
        perf = c.get("/monitoring/performance").json()["report"]
        assert perf["labelled"] >= 100 and abs(perf["metrics"]["accuracy"] - 0.5) < 0.1
        signals = c.get("/monitoring/signals", params={"kind": "model_drift"}).json()["signals"]
        income = [s for s in signals if s["labels"]["feature"] == "income"]
        assert income and income[0]["kind"] == "model_drift" and income[0]["status"] == "firing"
        assert income[0]["service"] == "churn" and income[0]["values"]["psi"] > 0.2
        bad = c.post("/labels", json={"nope": 1})
        assert bad.status_code == 400


def test_serves_a_model_logged_and_registered_with_the_mlflow_client(serve_process, tmp_path: Path) -> None:  # noqa: ANN001
    import mlflow
    import mlflow.lightgbm
    from lightgbm import LGBMRegressor
    from mlflow.models import infer_signature

    x, _ = training_frame(300, seed=4)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    model = LGBMRegressor(n_estimators=5, verbose=-1).fit(x, x["age"] * 3)
    with mlflow.start_run():
        mlflow.lightgbm.log_model(model, name="model", registered_model_name="pricing",
                                  signature=infer_signature(x, model.predict(x)))
    mlflow.tracking.MlflowClient(uri, uri).set_registered_model_alias("pricing", "champion", "1")
    import os

    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        url, _ = serve_process("models:/pricing@champion", "--workers", "1", "--refresh-seconds", "0.5")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    r = httpx.post(f"{url}/invocations", json=BODY, timeout=10)
    assert r.status_code == 200
    assert r.json()["predictions"] == pytest.approx(model.predict(pd.DataFrame(BODY["dataframe_split"]["data"],
                                                                               columns=FEATURES)).tolist())
    health = httpx.get(f"{url}/health", timeout=10).json()
    assert health["model"]["flavor"] == "lightgbm" and health["aliases"][0]["state"] == "current"
    mlflow.tracking.MlflowClient(uri, uri).delete_registered_model_alias("pricing", "champion")
    import time

    deadline = time.time() + 20
    while httpx.get(f"{url}/health", timeout=10).json()["aliases"][0]["state"] != "stale":
        assert httpx.post(f"{url}/invocations", json=BODY, timeout=10).status_code == 200
        assert time.time() < deadline, "the deleted alias was never noticed"
        time.sleep(0.2)
    assert httpx.post(f"{url}/invocations", json=BODY, timeout=10).status_code == 200  # still serving
