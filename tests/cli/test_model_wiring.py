"""`opsloop serve` and `opsloop models validate` find registered models on an opsloop server (--url)
or directly in the embedded store (--data-dir), without the mlflow client installed in the path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests._models import register_sklearn_champion
from tests.conftest import free_port, wait_http

OPSLOOP = str(Path(sys.executable).with_name("opsloop"))


@pytest.fixture
def registered(server, monkeypatch) -> str:  # noqa: ANN001
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    register_sklearn_champion(server.url, "wired")
    return server.url


def _serve_and_score(args: list[str], env: dict[str, str]) -> list:
    port = free_port()
    proc = subprocess.Popen([OPSLOOP, *args, "serve", "models:/wired@champion", "--port", str(port), "-w", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc=proc, timeout=60)
        resp = httpx.post(f"http://127.0.0.1:{port}/invocations", timeout=60,
                          json={"dataframe_split": {"columns": ["a", "b"], "data": [[2.0, 2.0], [-2.0, -2.0]]}})
        assert resp.status_code == 200, resp.text
        return resp.json()["predictions"]
    finally:
        proc.terminate()
        proc.wait(20)


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "OPSLOOP_URL")}
    return env


def test_serve_resolves_alias_through_the_server_url(registered: str) -> None:
    assert _serve_and_score(["--url", registered], _env()) == [1, 0]


def test_serve_resolves_alias_in_the_embedded_store(registered: str, server) -> None:  # noqa: ANN001
    assert _serve_and_score(["--data-dir", str(server.data_dir)], _env()) == [1, 0]


def test_validate_reads_and_promotes_through_the_server_url(registered: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    data["label"] = (data["a"] + data["b"] > 0).astype(int)
    data.to_csv(tmp_path / "holdout.csv", index=False)
    done = subprocess.run([OPSLOOP, "--url", registered, "models", "validate", "wired", "--candidate", "1",
                           "--data", str(tmp_path / "holdout.csv"), "--target", "label", "--json"],
                          env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"passed": true' in done.stdout
    stored = httpx.get(f"{registered}/api/opsloop/v1/models/wired/versions/1/validations").json()["validations"]
    assert len(stored) == 1 and stored[0]["passed"] is True


def test_the_server_scores_registered_models_itself(registered: str) -> None:
    body = {"dataframe_split": {"columns": ["a", "b"], "data": [[2.0, 2.0], [-2.0, -2.0]]}}
    # each first request of a model loads it in the server: seconds on a loaded machine (httpx waits 5 s by default)
    with httpx.Client(base_url=registered, timeout=60) as http:
        resp = http.post("/serving/wired/champion/invocations", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["predictions"] == [1, 0]
        assert http.post("/serving/wired/1/invocations", json=body).json()["predictions"] == [1, 0]
        missing = http.post("/serving/nope/champion/invocations", json=body)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("command", [["predict", "models:/churn@champion", "-i", "in.csv", "-o", "out.parquet"],
                                     ["models", "validate", "churn", "--candidate", "1", "--data", "in.csv"]])
def test_without_a_store_model_commands_say_so_and_create_no_data_folder(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # They used to create ./opsloop-data (an empty store) in the working folder, then report the model missing.
    from opsloop.cli import main

    for env in ("OPSLOOP_URL", "MLFLOW_TRACKING_URI", "OPSLOOP_DATA_DIR", "OPSLOOP_DATABASE_URL", "OPSLOOP_CONFIG"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    code = main(command)
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "opsloop-data").exists(), err


def test_a_data_dir_without_a_store_is_left_untouched_by_model_commands(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # an existing folder given by mistake (`--data-dir ~`) had opsloop.db and artifacts/ created in it
    from opsloop.cli import main

    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    code = main(["--data-dir", str(tmp_path), "predict", "models:/churn@champion", "-i", str(tmp_path / "in.csv"),
                 "-o", str(tmp_path / "out.parquet")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"], err


def test_a_registry_uri_without_a_registry_says_which_option_gives_one(tmp_path: Path) -> None:
    """The message named MLFLOW_TRACKING_URI and 'the opsloop server', not the CLI's --url or --data-dir."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLOOP_") and k != "MLFLOW_TRACKING_URI"}
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    proc = subprocess.run([OPSLOOP, "predict", "models:/wired@champion", "--input", str(tmp_path / "in.csv"),
                           "--output", str(tmp_path / "out.parquet")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--url" in proc.stderr and "--data-dir" in proc.stderr, proc.stderr


def test_a_candidate_that_is_no_version_number_says_so(registered: str, tmp_path: Path) -> None:
    (tmp_path / "holdout.csv").write_text("a,b,label\n1,2,1\n")
    done = subprocess.run([OPSLOOP, "--url", registered, "models", "validate", "wired", "--candidate", "abc",
                           "--data", str(tmp_path / "holdout.csv"), "--target", "label"],
                          env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--candidate must be a version number of wired (got 'abc')" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "stage" not in done.stderr
