"""The loop settles: once a retrained candidate is promoted, the served model's drift reference follows
``@champion`` to the training data the candidate's run recorded, so traffic like that data is no longer
drift and the incident that started the retrain resolves (it stayed open, measured against the old
training data, before the reference followed the alias)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.aiops.ingestion._helpers import API
from tests.aiops.runbooks._helpers import wait_runs
from tests.aiops.runbooks.test_loop_from_served_traffic import MON, _frame, _score, served_champion
from tests.conftest import wait_until

# Trains on the population the served model now sees (``a`` moved by 3, and the label's boundary with
# it), logs that data to its run and names it with the tag the monitor reads.
TRAIN = '''
import os, tempfile
import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(11)
x = pd.DataFrame({"a": rng.normal(size=1000) + 3.0, "b": rng.normal(size=1000)})
y = (x["a"] + x["b"] > 3).astype(int)
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
with mlflow.start_run():
    info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model", input_example=x.head(2))
    with tempfile.TemporaryDirectory() as tmp:
        x.to_parquet(os.path.join(tmp, "train.parquet"))
        mlflow.log_artifact(os.path.join(tmp, "train.parquet"), "data")
    mlflow.set_tag("opsloop.training_data", "data/train.parquet")
mlflow.register_model(info.model_uri, os.environ["OPSLOOP_MODEL_NAME"])
'''


def _holdout(path: Path) -> Path:
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({"a": rng.normal(size=300) + 3.0, "b": rng.normal(size=300)})
    frame["label"] = (frame["a"] + frame["b"] > 3).astype(int)
    frame.to_csv(path, index=False)
    return path


def _status(c: httpx.Client, model: str) -> dict:
    r = c.get(f"{MON}/models/{model}")
    assert r.status_code == 200, r.text
    return r.json()


def test_after_promotion_the_reference_follows_the_candidate_and_the_incident_resolves(
        opsloop_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    model = "churn-settles"
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    c = served_champion(opsloop_server, monkeypatch, model, {
        "name": "retrain", "trigger": {"matchers": [f'model="{model}"'], "events": ["opened"]},
        "action": {"type": "retrain", "argv": [sys.executable, str(script)], "timeout_s": 120, "model": model,
                   "alias": "champion", "data": str(_holdout(tmp_path / "holdout.csv")),
                   "policy": {"target": "label", "rules": ["accuracy >= champion"]}}})
    origin = _status(c, model)["reference"]["origin"]
    assert (origin["alias"], origin["version"], origin["data"]) == ("champion", "1", "inline")
    assert _status(c, model)["reference"]["behind"] is None

    # The population moves: drift, an incident, a retrain on the new population, promoted.
    _score(c, model, "champion", _frame(6, 600, shift=3.0))
    [incident] = wait_until(lambda: c.get(API + "/incidents", params={"service": model}).json()["incidents"],
                            timeout=60)
    (run,) = wait_runs(c, 1, timeout=120, incident_id=incident["id"])
    assert run["state"] == "succeeded" and run["candidate_version"] == "2", run

    # The next scheduled check moves the reference to version 2's training data, and says so.
    reference = wait_until(lambda: (ref := _status(c, model)["reference"])["origin"]["version"] == "2" and ref,
                           timeout=60)
    origin = reference["origin"]
    version = c.get("/api/2.0/mlflow/model-versions/get", params={"name": model, "version": "2"}).json()
    assert origin["set"] == "followed" and origin["alias"] == "champion"
    assert origin["data"] == f"runs:/{version['model_version']['run_id']}/data/train.parquet"
    assert origin["previous"]["version"] == "1" and origin["previous"]["data"] == "inline"
    assert reference["rows"] == 1000 and reference["predictions"] is True and reference["behind"] is None

    # Traffic like the new training data, answered by version 2 (``@champion`` within the scoring app's
    # 30 s refresh; what version 1 still answers is not compared with version 2's reference): no drift
    # any more, and the incident resolves.
    _score(c, model, "champion", _frame(7, 100, shift=3.0))
    _score(c, model, "2", _frame(8, 300, shift=3.0))
    wait_until(lambda: [i for i in c.get(API + "/incidents", params={"service": model}).json()["incidents"]
                        if i["id"] == incident["id"] and i["state"] == "resolved"], timeout=60)
    assert _status(c, model)["drifted"] == []
