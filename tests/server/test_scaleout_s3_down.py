"""A server whose S3 endpoint goes down: artifact requests are a quick 503 naming the store, never a 404 or a 500."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import httpx
import pytest
from mlflow import MlflowClient
from moto.server import ThreadedMotoServer
from tests.conftest import free_port


@pytest.fixture
def own_s3() -> Iterator[ThreadedMotoServer]:
    """A moto server of this test's own, which it stops (the session's one serves other tests)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    yield server
    server.stop()


def test_s3_endpoint_down_is_a_503_naming_the_store(opsloop_server, own_s3, tmp_path) -> None:  # noqa: ANN001
    host, port = own_s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="down-bucket")
    server = opsloop_server(extra=["--artifact-root", "s3://down-bucket/root"],
                            env={"OPSLOOP_S3_ENDPOINT_URL": endpoint})
    client = MlflowClient(server.url)
    run = client.create_run("0")
    (tmp_path / "model.txt").write_text("weights")
    client.log_artifact(run.info.run_id, str(tmp_path / "model.txt"))
    where = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    files = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"

    own_s3.stop()
    answers = {
        "download": httpx.get(f"{files}/{where}/model.txt", timeout=120),
        "list": httpx.get(files, params={"path": where}, timeout=120),
        "upload": httpx.put(f"{files}/{where}/other.txt", content=b"x", timeout=120),
        "delete": httpx.delete(f"{files}/{where}/model.txt", timeout=120),
    }
    for what, answer in answers.items():
        # not 404 (the artifact is there) nor a 500 with the botocore traceback in the log
        assert answer.status_code == 503, (what, answer.text)
        assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE", what
        assert "s3://down-bucket/root cannot be reached" in answer.json()["message"], what
    assert "unhandled error" not in server.log.read_text(errors="replace")
