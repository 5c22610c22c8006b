"""The ``mlflow-artifacts`` proxy through a real server, as MLflow's client uses it, on a local folder and S3."""

from __future__ import annotations

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository


@pytest.fixture(params=["local", "s3"])
def server_url(request: pytest.FixtureRequest, opsloop_server) -> str:  # noqa: ANN001
    if request.param == "local":
        return opsloop_server().url
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("s3_endpoint")
    return opsloop_server(extra=["--artifact-root", f"s3://{bucket}/root"],
                          env={"OPSLOOP_S3_ENDPOINT_URL": endpoint}).url


def test_deleting_absent_artifacts_answers_200_as_mlflow(server_url: str, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_url)
    client = MlflowClient(server_url)
    run = client.create_run("0")
    (tmp_path / "model.txt").write_text("weights")
    client.log_artifact(run.info.run_id, str(tmp_path / "model.txt"), "model")
    repo = get_artifact_repository(run.info.artifact_uri)

    repo.delete_artifacts("never-written.txt")  # MLflow's server answers 200 {}: the client raises on a 404
    repo.delete_artifacts("no/such/folder")
    where = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    answer = httpx.delete(f"{server_url}/api/2.0/mlflow-artifacts/artifacts/{where}/absent.bin", timeout=60)
    assert (answer.status_code, answer.json()) == (200, {})
    assert [f.path for f in client.list_artifacts(run.info.run_id, "model")] == ["model/model.txt"]

    repo.delete_artifacts("model")
    repo.delete_artifacts("model")  # a retried delete
    assert client.list_artifacts(run.info.run_id) == []


def test_upload_onto_a_local_folder_is_a_400_naming_the_path(opsloop_server) -> None:  # noqa: ANN001
    files = f"{opsloop_server().url}/api/2.0/mlflow-artifacts/artifacts"
    assert httpx.put(f"{files}/0/r1/artifacts/sub/a.txt", content=b"a", timeout=60).status_code == 200
    for bad in ("0/r1/artifacts/sub", "0/r1/artifacts/sub/a.txt/b.txt"):
        answer = httpx.put(f"{files}/{bad}", content=b"x", timeout=60)
        assert answer.status_code == 400, answer.text
        assert (answer.json()["error_code"], answer.json()["field"]) == ("INVALID_PARAMETER_VALUE", "path")
    assert httpx.get(f"{files}/0/r1/artifacts/sub/a.txt", timeout=60).content == b"a"


def test_downloading_a_folder_is_a_400_saying_so_as_mlflow(server_url: str, tmp_path) -> None:  # noqa: ANN001
    client = MlflowClient(server_url)
    run = client.create_run("0")
    (tmp_path / "m.txt").write_text("m")
    client.log_artifact(run.info.run_id, str(tmp_path / "m.txt"), "model")
    where = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    answers = [httpx.get(f"{server_url}/api/2.0/mlflow-artifacts/artifacts/{where}/model", timeout=60),
               httpx.get(f"{server_url}/get-artifact", params={"run_uuid": run.info.run_id, "path": "model"},
                         timeout=60)]
    for answer in answers:  # not "no artifact": the folder is there
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "directory" in answer.json()["message"]
    missing = httpx.get(f"{server_url}/api/2.0/mlflow-artifacts/artifacts/{where}/absent", timeout=60)
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_logged_model_artifacts_are_listed_and_served_as_by_mlflow(server_url: str, tmp_path) -> None:  # noqa: ANN001
    """MLflow's ListLoggedModelArtifacts (``/logged-models/{id}/artifacts/directories``) and its UI's
    ``/logged-models/{id}/artifacts/files`` (both were 404 ENDPOINT_NOT_FOUND)."""
    client = MlflowClient(server_url)
    model = client.create_logged_model(experiment_id="0", name="lm")
    files = tmp_path / "model"  # not tmp_path itself: the server's data folder is there
    (files / "sub").mkdir(parents=True)
    (files / "MLmodel").write_text("flavors: {}\n")
    (files / "sub" / "w.bin").write_bytes(b"\x00" * 5)
    client.log_model_artifacts(model.model_id, str(files))
    api = f"{server_url}/api/2.0/mlflow/logged-models/{model.model_id}/artifacts"
    ajax = f"{server_url}/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts"

    listed = httpx.get(f"{api}/directories", timeout=60).json()
    assert listed["root_uri"] == model.artifact_location
    assert listed["files"] == [{"path": "MLmodel", "is_dir": False, "file_size": 12}, {"path": "sub", "is_dir": True}]
    sub = httpx.get(f"{ajax}/directories", params={"artifact_directory_path": "sub"}, timeout=60).json()
    assert sub["files"] == [{"path": "sub/w.bin", "is_dir": False, "file_size": 5}]
    assert httpx.get(f"{ajax}/files", params={"artifact_file_path": "sub/w.bin"}, timeout=60).content == b"\x00" * 5
    missing = httpx.get(f"{ajax}/files", params={"artifact_file_path": "nope"}, timeout=60)
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    no_path = httpx.get(f"{ajax}/files", timeout=60)
    assert (no_path.status_code, no_path.json()["field"]) == (400, "artifact_file_path")
    unknown = httpx.get(f"{server_url}/api/2.0/mlflow/logged-models/m-0000/artifacts/directories", timeout=60)
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_text_files_mlflow_shows_as_text_are_served_as_text(opsloop_server, tmp_path) -> None:  # noqa: ANN001
    """As MLflow's server: MLmodel (no extension), logs, configs and notebooks are text/plain, so a browser shows
    them; HTML stays plain text (an uploaded page must not run on this origin)."""
    url = opsloop_server().url
    client = MlflowClient(url)
    run = client.create_run("0")
    files = tmp_path / "files"
    files.mkdir()
    names = ["MLmodel", "train.log", "setup.cfg", "nb.ipynb", "page.html", "w.bin"]
    for name in names:
        (files / name).write_text("x")
    client.log_artifacts(run.info.run_id, str(files))
    types = {name: httpx.get(f"{url}/get-artifact", params={"run_uuid": run.info.run_id, "path": name},
                             timeout=60).headers["content-type"] for name in names}
    assert types == {**dict.fromkeys(names[:-1], "text/plain; charset=utf-8"), "w.bin": "application/octet-stream"}
