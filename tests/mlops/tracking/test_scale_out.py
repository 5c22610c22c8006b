"""The server on PostgreSQL metadata and S3 artifacts (moto), driven by the real mlflow client."""

from __future__ import annotations

import os

import mlflow
import pytest
from mlflow import MlflowClient


@pytest.mark.postgres
def test_server_on_postgres_and_s3(opsloop_server, postgres_url, s3_endpoint, s3_bucket, tmp_path) -> None:  # noqa: ANN001
    env = {"OPSLOOP_S3_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
           "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"], "AWS_DEFAULT_REGION": "us-east-1"}
    server = opsloop_server(extra=["--database-url", postgres_url, "--artifact-root", f"s3://{s3_bucket}/artifacts"],
                            env=env)
    client = MlflowClient(server.url)
    run = client.create_run("0", run_name="pg-s3")
    client.log_metric(run.info.run_id, "m", 1.5, step=3)
    (tmp_path / "f.txt").write_text("on s3")
    client.log_artifact(run.info.run_id, str(tmp_path / "f.txt"), "out")
    assert [f.path for f in client.list_artifacts(run.info.run_id, "out")] == ["out/f.txt"]
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="out/f.txt",
                                               dst_path=str(tmp_path / "dl"), tracking_uri=server.url)
    assert open(path).read() == "on s3"
    import boto3

    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=s3_bucket)["Contents"]]
    assert keys == [f"artifacts/0/{run.info.run_id}/artifacts/out/f.txt"]
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
