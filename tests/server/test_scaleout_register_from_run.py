"""Versions registered from ``runs:/RUN/NAME`` with the mlflow client, on PostgreSQL and S3, load as MLflow's do."""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression


@pytest.mark.postgres
def test_a_version_registered_from_a_runs_uri_loads_the_model_the_run_logged(
        opsloop_server, postgres_url, s3_endpoint, s3_bucket) -> None:  # noqa: ANN001
    env = {"OPSLOOP_S3_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
           "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"], "AWS_DEFAULT_REGION": "us-east-1"}
    server = opsloop_server(extra=["--database-url", postgres_url, "--artifact-root", f"s3://{s3_bucket}/a"], env=env)
    mlflow.set_tracking_uri(server.url)
    x = np.arange(20, dtype=float).reshape(10, 2)
    model = LogisticRegression().fit(x, [0, 1] * 5)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])  # MLflow 3 keeps its files with the logged model
    client = MlflowClient(server.url)
    client.create_registered_model("churn")
    # MlflowClient.create_model_version sends the URI as given (mlflow.register_model resolves it first)
    version = client.create_model_version("churn", f"runs:/{run.info.run_id}/model", run.info.run_id)
    assert version.source == f"runs:/{run.info.run_id}/model"
    loaded = mlflow.pyfunc.load_model(f"models:/churn/{version.version}")
    assert list(loaded.predict(x)) == list(model.predict(x))
