"""A drift reference of a handful of rows cannot stand for a training distribution: the server refuses one
under 50 rows (as many as a drift check needs of current values) with a 400 naming where the rows came from."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.settings import load_settings

MON = "/api/opsloop/v1/monitoring"


def _split(rows: int) -> dict:
    return {"dataframe_split": {"columns": ["a"], "data": [[float(i)] for i in range(rows)]}}


def test_a_reference_of_too_few_rows_is_a_400_naming_its_field(tmp_path: Path) -> None:
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}, "monitoring": {"drift_interval_s": 0}},
                             environ={})
    with TestClient(create_app(settings)) as http:
        assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"}).status_code == 200
        r = http.post(f"{MON}/models/m/reference", json=_split(2))
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "dataframe_split" and "2 rows" in r.json()["message"]
        assert "at least 50" in r.json()["message"]
        records = {"dataframe_records": [{"a": float(i)} for i in range(49)]}
        assert http.post(f"{MON}/models/m/reference", json=records).json()["field"] == "dataframe_records"

        run_id = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        buf = io.BytesIO()
        pd.DataFrame({"a": [1.0, 2.0, 3.0]}).to_parquet(buf)
        put = http.put(f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/tiny.parquet", content=buf.getvalue())
        assert put.status_code == 200, put.text
        r = http.post(f"{MON}/models/m/reference", json={"path": f"runs:/{run_id}/tiny.parquet"})
        assert r.status_code == 400 and r.json()["field"] == "path", r.text
        assert http.get(f"{MON}/models/m/reference").status_code == 404  # nothing was stored

        r = http.post(f"{MON}/models/m/reference", json=_split(50))
        assert r.status_code == 200 and r.json()["rows"] == 50, r.text
