"""The unmodified ``mlflow`` client against a real opsloop server process."""

from __future__ import annotations

import math

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException, RestException

from opsloop.server.app import MLFLOW_COMPAT_VERSION


@pytest.fixture
def client(server, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    yield MlflowClient(server.url)
    mlflow.end_run()


def test_fluent_run_logs_everything(client: MlflowClient, tmp_path) -> None:  # noqa: ANN001
    mlflow.set_experiment("fluent")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.csv").write_text("x,y\n1,2\n")
    with mlflow.start_run(run_name="fluent-run") as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"depth": 3, "model": "rf"})
        for step in range(10):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "nan_metric": float("nan")})
        mlflow.set_tag("team", "ml")
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifacts(str(tmp_path / "dir"), artifact_path="data")
        df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
        mlflow.log_input(mlflow.data.from_pandas(df, source=str(tmp_path / "train.csv"), name="train"),
                         context="training")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "fluent-run"
    assert got.data.params == {"lr": "0.1", "depth": "3", "model": "rf"}
    assert got.data.metrics["acc"] == 0.9 and math.isnan(got.data.metrics["nan_metric"])
    assert got.data.tags["team"] == "ml"
    assert got.inputs.dataset_inputs[0].dataset.name == "train"
    assert got.inputs.dataset_inputs[0].tags[0].value == "training"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(10))
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["data", "notes.txt"]
    assert [f.path for f in client.list_artifacts(run.info.run_id, "data")] == ["data/a.csv"]
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes.txt",
                                                dst_path=str(tmp_path / "dl"))
    assert open(local).read() == "hello"


def test_search_runs_and_experiments(client: MlflowClient) -> None:
    exp = client.create_experiment("searchable", tags={"owner": "me"})
    for i in range(6):
        run = client.create_run(exp, run_name=f"r{i}")
        client.log_batch(run.info.run_id, metrics=[Metric("acc", i / 10, 0, 0)],
                         params=[Param("model", "rf" if i % 2 else "lr")], tags=[RunTag("i", str(i))])
        client.set_terminated(run.info.run_id)
    runs = mlflow.search_runs([exp], "metrics.acc > 0.15 and params.model = 'rf'", order_by=["metrics.acc DESC"])
    assert list(runs["tags.mlflow.runName"]) == ["r5", "r3"]
    page = client.search_runs([exp], max_results=4, order_by=["metrics.acc ASC"])
    assert len(page) == 4 and page.token
    rest = client.search_runs([exp], max_results=4, order_by=["metrics.acc ASC"], page_token=page.token)
    assert [r.info.run_name for r in rest] == ["r4", "r5"]
    exps = mlflow.search_experiments(filter_string="name = 'searchable'")
    assert [e.experiment_id for e in exps] == [exp] and exps[0].tags == {"owner": "me"}
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        client.search_runs([exp], "metrics.acc > 'high'")


def test_sklearn_model_logs_and_loads_back(client: MlflowClient) -> None:
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment("models")
    x = pd.DataFrame({"a": np.arange(20, dtype=float), "b": np.arange(20, dtype=float) % 3})
    y = (x["a"] > 9).astype(int)
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.9)
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model", input_example=x.head(2))
    # log_model links the run's metrics to the model by re-sending them; the run still has one point
    assert [m.value for m in client.get_metric_history(run.info.run_id, "acc")] == [0.9]
    assert [m.key for m in client.get_logged_model(info.model_id).metrics] == ["acc"]
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert list(loaded.predict(x)) == list(LogisticRegression().fit(x, y).predict(x))
    assert client.get_logged_model(info.model_id).source_run_id == run.info.run_id
    again = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert list(again.predict(x.head(3))) == list(loaded.predict(x.head(3)))


def test_errors_have_mlflow_codes(client: MlflowClient) -> None:
    with pytest.raises(RestException) as info:
        client.get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.create_experiment("dup")
    with pytest.raises(RestException) as info:
        client.create_experiment("dup")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run("0")
    client.log_param(run.info.run_id, "p", "1")
    with pytest.raises(MlflowException, match="Changing param values is not allowed") as err:
        client.log_param(run.info.run_id, "p", "2")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mlflow.get_experiment_by_name("nope") is None


def test_version_answers_the_mlflow_version_as_mlflows_server_does(server) -> None:  # noqa: ANN001
    resp = httpx.get(f"{server.url}/version")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"  # MLflow's (Flask's default)
    assert resp.text == MLFLOW_COMPAT_VERSION
    assert resp.text.split(".")[:2] == mlflow.__version__.split(".")[:2]  # the client these tests run


def test_logged_models_ordered_by_a_metric_and_filtered_by_dataset(client: MlflowClient) -> None:
    # mlflow 3 picks the best model with order_by=[{"field_name": "metrics.acc", ...}] and restricts metrics to
    # an evaluation set with datasets=[...]; the order was refused and the datasets ignored.
    exp_id = client.create_experiment("best-model")
    holdout = mlflow.data.from_numpy(np.arange(10), name="holdout")
    other = mlflow.data.from_numpy(np.arange(12), name="other")
    with mlflow.start_run(experiment_id=exp_id):
        for name, acc, ds in (("a", 0.7, holdout), ("b", 0.9, holdout), ("c", 0.95, other), ("d", None, None)):
            model = mlflow.initialize_logged_model(name=name)
            if acc is not None:
                mlflow.log_metric("acc", acc, model_id=model.model_id, dataset=ds)
    # the latest value of each model counts: b's accuracy dropped to 0.6 on a later step
    b = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'b'", output_format="list")[0]
    with mlflow.start_run(run_id=b.source_run_id):
        mlflow.log_metric("acc", 0.6, step=1, model_id=b.model_id, dataset=holdout)

    def names(**kw):  # noqa: ANN003, ANN202
        return [m.name for m in mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list", **kw)]

    assert names(order_by=[{"field_name": "metrics.acc", "ascending": False}]) == ["c", "a", "b", "d"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True}]) == ["b", "a", "c", "d"]
    # models without the metric (on that dataset) come last, newest first
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": False, "dataset_name": "holdout"}]) == \
        ["a", "b", "d", "c"]
    assert names(datasets=[{"dataset_name": "holdout"}], order_by=[{"field_name": "name"}]) == ["a", "b"]
    assert names(filter_string="metrics.acc > 0.8", datasets=[{"dataset_name": "holdout"}]) == ["b"]
    assert names(datasets=[{"dataset_name": "other", "dataset_digest": other.digest}]) == ["c"]
    with pytest.raises(MlflowException, match="params.x"):
        names(order_by=[{"field_name": "params.x"}])


def test_long_param_and_note_are_cut_as_mlflows_server_does(client: MlflowClient) -> None:
    # The client sends them whole and relies on the server cutting them; opsloop refused the batch.
    with mlflow.start_run() as run:
        mlflow.log_param("features", ",".join(f"feature_{i}" for i in range(1000)))
        mlflow.set_tag("mlflow.note.content", "a long description " * 500)
    got = client.get_run(run.info.run_id).data
    assert len(got.params["features"]) == 6000 and got.params["features"].startswith("feature_0,feature_1,")
    assert len(got.tags["mlflow.note.content"]) == 8000


def test_logged_model_params_and_tags_are_kept_whole_as_mlflows_server_does(client: MlflowClient) -> None:
    # MLflow stores them in Text columns without a length check; opsloop refused params over 6,000 characters
    # and tags over 8,000 (the run limits).
    model = client.create_logged_model(client.create_experiment("whole"), name="m",
                                       params={"at_create": "c" * 9000})
    client.log_model_params(model.model_id, {"grid": "g" * 7000, "vocab": "v" * 100_000})
    client.set_logged_model_tags(model.model_id, {"notes": "n" * 9000})
    got = client.get_logged_model(model.model_id)
    assert {k: len(v) for k, v in got.params.items()} == {"at_create": 9000, "grid": 7000, "vocab": 100_000}
    assert len(got.tags["notes"]) == 9000


def test_logged_model_param_and_tag_keys_follow_no_name_rule_as_in_mlflow(client: MlflowClient) -> None:
    # Hyper-parameter names such as "layers[0]" were refused with the run params' name rule; MLflow has none
    # for logged models, only the column's 255 characters.
    keys = ["layers[0]", "C (inverse regularization)", "a=b,c$d"]
    model = client.create_logged_model(client.create_experiment("keys"), params={"init[0]": "1"})
    client.log_model_params(model.model_id, dict.fromkeys(keys, "1"))
    client.set_logged_model_tags(model.model_id, dict.fromkeys(keys, "t"))
    got = client.get_logged_model(model.model_id)
    assert sorted(got.params) == sorted([*keys, "init[0]"]) and sorted(got.tags) == sorted(keys)
    with pytest.raises(MlflowException) as err:
        client.log_model_params(model.model_id, {"k" * 256: "1"})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_logged_model_param_logged_again_with_another_value_is_refused(client: MlflowClient) -> None:
    # It answered 200 and kept the first value, so the caller believed the new one stored; MLflow refuses it.
    model = client.create_logged_model(client.create_experiment("relog"), params={"lr": "0.1"})
    client.log_model_params(model.model_id, {"lr": "0.1", "depth": "3"})  # the same value again is fine
    with pytest.raises(MlflowException, match="Changing param values is not allowed") as err:
        client.log_model_params(model.model_id, {"depth": "3", "lr": "0.2", "new": "x"})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_logged_model(model.model_id).params == {"lr": "0.1", "depth": "3"}  # nothing half-written


def test_proxy_multipart_upload_falls_back_to_one_request(client: MlflowClient, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # With MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD the client first asks /mlflow-artifacts/mpu/create; a 404 there
    # failed every large upload. MLflow's answer for a store without multipart (501, its message) makes the
    # client send the file whole.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1000")
    big = tmp_path / "weights.bin"
    big.write_bytes(bytes(range(256)) * 40)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="model")
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model/weights.bin",
                                                dst_path=str(tmp_path / "dl"))
    assert open(local, "rb").read() == big.read_bytes()


def test_dataset_inputs_come_back_in_the_order_they_were_logged(client: MlflowClient) -> None:
    # MLflow's docs read a run's dataset with run.inputs.dataset_inputs[0]; a training set logged before the
    # evaluation sets came back at any place (ordered by a random id), MLflow's server keeps the logging order.
    names = ["train", "validation", "test", "holdout", "drift-2024", "drift-2025", "shadow", "canary"]
    with mlflow.start_run() as run:
        for i, name in enumerate(names):
            mlflow.log_input(mlflow.data.from_numpy(np.arange(i + 2), name=name), context="training")
    assert [d.dataset.name for d in client.get_run(run.info.run_id).inputs.dataset_inputs] == names
    found = client.search_runs([run.info.experiment_id])[0]
    assert [d.dataset.name for d in found.inputs.dataset_inputs] == names


def test_a_nan_metric_is_unequal_to_every_number_as_in_mlflow(client: MlflowClient) -> None:
    # A diverged run (loss NaN) matched no comparison at all; in MLflow's server, as in IEEE arithmetic, NaN is
    # neither equal to, below nor above a number, so `!=` finds it and every other comparator leaves it out.
    exp = client.create_experiment("diverged")
    names = {}
    for name, loss in (("nan", math.nan), ("half", 0.5), ("zero", 0.0)):
        run = client.create_run(exp, run_name=name)
        client.log_metric(run.info.run_id, "loss", loss)
        names[run.info.run_id] = name

    def found(filter_string: str) -> list[str]:
        return sorted(names[r.info.run_id] for r in client.search_runs([exp], filter_string))

    assert found("metrics.loss != 0.5") == ["nan", "zero"]
    assert found("metrics.loss = 0") == ["zero"]
    assert found("metrics.loss < 1") == ["half", "zero"]
    assert found("metrics.loss >= 0") == ["half", "zero"]


def test_a_logged_model_without_a_type_is_found_by_model_type_not_equal(client: MlflowClient) -> None:
    # Its type reads '' (as from MLflow's server), yet "model_type != 'sklearn'" left it out; MLflow finds it.
    exp = client.create_experiment("typed")
    for name, model_type in (("typed", "sklearn"), ("other", "xgboost"), ("untyped", None)):
        client.create_logged_model(exp, name=name, model_type=model_type)

    def found(filter_string: str) -> list[str]:
        return sorted(m.name for m in client.search_logged_models([exp], filter_string=filter_string))

    assert client.search_logged_models([exp], filter_string="name = 'untyped'")[0].model_type == ""
    assert found("model_type != 'sklearn'") == ["other", "untyped"]
    assert found("model_type = ''") == ["untyped"]
    assert found("model_type = 'sklearn'") == ["typed"]


def test_a_negative_metric_timestamp_is_refused_as_in_mlflow(client: MlflowClient) -> None:
    # MLflow's server answers 400 INVALID_PARAMETER_VALUE ("Timestamp must be a nonnegative long") and stores nothing
    run = client.create_run("0").info.run_id
    with pytest.raises(RestException) as err:
        client.log_metric(run, "loss", 1.0, timestamp=-1, step=0)
    assert (err.value.get_http_status_code(), err.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    assert "Timestamp must be a nonnegative long" in err.value.message
    with pytest.raises(RestException) as err:
        client.log_batch(run, metrics=[Metric("loss", 2.0, 5, 0), Metric("loss", 3.0, -5, 1)])
    assert (err.value.get_http_status_code(), err.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    assert client.get_metric_history(run, "loss") == []
    client.log_metric(run, "loss", 4.0, timestamp=0, step=0)
    assert [(m.value, m.timestamp) for m in client.get_metric_history(run, "loss")] == [(4.0, 0)]
