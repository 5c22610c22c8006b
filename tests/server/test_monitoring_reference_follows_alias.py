"""A served model's drift reference follows the alias it was set with: when ``@champion`` moves, the
server's schedule rebuilds the reference from the new version's training data (the run's artifact at
the reference's path, or the one the ``opsloop.training_data`` tag names) and the monitoring API says
which version and data it came from. A version without known training data leaves the reference
where it was, and the API says it is behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from tests._models import register_sklearn_champion
from tests.conftest import wait_until

MON = "/api/opsloop/v1/monitoring"
MODEL = "churn-follows"


def _data(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows) + seed, "b": rng.normal(size=rows)})


def _version(tmp: Path, seed: int, rows: int, data_at: str | None) -> tuple[str, str]:
    """Train on ``_data(seed, rows)``, log that data at ``data_at`` in the run (None: not logged) and
    register a version; ``(version, run_id)``."""
    from sklearn.linear_model import LogisticRegression

    x = _data(seed, rows)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, (x["a"] + x["b"] > seed).astype(int)),
                                        name="model", input_example=x.head(2))
        if data_at is not None:
            file = tmp / Path(data_at).name
            x.to_parquet(file) if file.suffix == ".parquet" else x.to_csv(file, index=False)
            mlflow.log_artifact(str(file), str(Path(data_at).parent))
    return mlflow.register_model(info.model_uri, MODEL).version, run.info.run_id


def _reference(http: httpx.Client) -> dict:
    r = http.get(f"{MON}/models/{MODEL}/reference")
    assert r.status_code == 200, r.text
    return r.json()


def test_the_reference_follows_champion_to_each_versions_training_data_or_says_it_is_behind(
        opsloop_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    server = opsloop_server(env={"OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "1"})  # an alias move is seen at once
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    client = MlflowClient(server.url)
    http = httpx.Client(base_url=server.url, timeout=60.0)
    assert register_sklearn_champion(server.url, MODEL) == "1"
    with mlflow.start_run() as first:
        _data(0, 400).to_parquet(tmp_path / "train.parquet")
        mlflow.log_artifact(str(tmp_path / "train.parquet"), "data")
    r = http.post(f"{MON}/models/{MODEL}/reference", json={
        "path": f"runs:/{first.info.run_id}/data/train.parquet", "ref": "champion",
        "drift": {"window": 300}})
    assert r.status_code == 200, r.text
    origin = r.json()["origin"]
    assert (origin["alias"], origin["version"], origin["set"]) == ("champion", "1", "api")
    assert origin["run_id"] == first.info.run_id and r.json()["rows"] == 400

    # Version 2's run logged its training data where the reference's came from: it is taken.
    v2, run2 = _version(tmp_path, 2, 500, "data/train.parquet")
    client.set_registered_model_alias(MODEL, "champion", v2)
    ref = wait_until(lambda: (doc := _reference(http))["origin"]["version"] == v2 and doc, timeout=30)
    assert ref["origin"]["data"] == f"runs:/{run2}/data/train.parquet" and ref["origin"]["set"] == "followed"
    assert ref["origin"]["previous"] == {"version": "1", "data": f"runs:/{first.info.run_id}/data/train.parquet",
                                         "run_id": first.info.run_id}
    assert ref["rows"] == 500 and ref["predictions"] is True and ref["behind"] is None
    assert ref["policies"] == {"drift": {"window": 300}}  # the thresholds stay with the model

    # Version 3 recorded no training data: the reference stays version 2's, and says it is behind.
    v3, run3 = _version(tmp_path, 3, 300, None)
    client.set_registered_model_alias(MODEL, "champion", v3)
    wait_until(lambda: _reference(http)["behind"], timeout=30)
    ref = _reference(http)
    assert ref["behind"]["version"] == v3 and ref["behind"]["alias"] == "champion"
    assert f"version {v3} has no known training data" in ref["behind"]["reason"]
    assert f"runs:/{run3}/data/train.parquet" in ref["behind"]["reason"]
    assert ref["origin"]["version"] == v2 and ref["rows"] == 500
    status = http.get(f"{MON}/models/{MODEL}").json()
    assert status["reference"]["behind"]["version"] == v3

    # Version 4 names its data with the tag on the version (a CSV elsewhere in its run): followed again.
    v4, run4 = _version(tmp_path, 4, 600, "inputs/fit.csv")
    client.set_model_version_tag(MODEL, v4, "opsloop.training_data", "inputs/fit.csv")
    client.set_registered_model_alias(MODEL, "champion", v4)
    ref = wait_until(lambda: (doc := _reference(http))["origin"]["version"] == v4 and doc, timeout=30)
    assert ref["origin"]["data"] == f"runs:/{run4}/inputs/fit.csv" and ref["rows"] == 600
    assert ref["origin"]["previous"]["version"] == v2 and ref["behind"] is None
