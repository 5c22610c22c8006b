"""The SDK against the embedded store and against a real ``opsloop server`` (each test runs on both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.errors import InvalidInputError, InvalidStateError, NotFoundError
from opsloop.sdk import Client
from tests.sdk.conftest import delete_run


def test_run_context_manager_ends_finished_with_params_tags_and_metrics(client: Client) -> None:
    with client.start_run(experiment="ctx", params={"lr": 0.1, "layers": 3}, tags={"team": "vision"},
                          run_name="first", capture_git=False) as run:
        run.log_metric("loss", 0.5, step=1)
        run.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
    got = client.get_run(run.id)
    assert got.info.status == "FINISHED" and got.info.end_time is not None
    assert got.info.run_name == "first"
    assert got.params == {"lr": "0.1", "layers": "3"}
    assert got.tags["team"] == "vision" and got.tags["mlflow.source.type"] == "LOCAL"
    assert {m.key: m.value for m in got.metrics} == {"loss": 0.5, "acc": 0.9, "f1": 0.8}
    assert client.get_experiment("ctx").experiment_id == got.info.experiment_id
    assert not any(m.key.startswith("system/") for m in got.metrics)  # system metrics are opt-in


def test_exception_inside_with_fails_the_run_and_still_flushes(client: Client) -> None:
    with pytest.raises(RuntimeError, match="diverged"):
        with client.start_run(experiment="crash", capture_git=False) as run:
            for i in range(2500):
                run.log_metric("loss", float(i), step=i)
            raise RuntimeError("diverged")
    assert client.get_run(run.id).info.status == "FAILED"
    assert len(client.get_metric_history(run.id, "loss")) == 2500


def test_keyboard_interrupt_kills_the_run(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt):
        with client.start_run(capture_git=False) as run:
            run.log_metric("loss", 1.0)
            raise KeyboardInterrupt
    got = client.get_run(run.id)
    assert got.info.status == "KILLED" and got.metrics[0].value == 1.0


def test_twenty_thousand_points_from_a_loop_all_arrive(client: Client) -> None:
    with client.start_run(experiment="many", capture_git=False) as run:
        for i in range(20_000):
            run.log_metric("loss", i * 0.5, step=i)
            if i % 4 == 0:
                run.log_metric("lr", 1.0 / (i + 1), step=i)
    history = client.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(20_000))
    assert [m.value for m in history] == [i * 0.5 for i in range(20_000)]
    assert len(client.get_metric_history(run.id, "lr")) == 5000


def test_non_finite_values_survive_the_round_trip(client: Client) -> None:
    with client.start_run(capture_git=False) as run:
        run.log_metric("x", float("nan"), step=0)
        run.log_metric("x", float("inf"), step=1)
        run.log_metric("x", float("-inf"), step=2)
    values = [m.value for m in client.get_metric_history(run.id, "x")]
    assert values[0] != values[0] and values[1:] == [float("inf"), float("-inf")]


def test_background_send_error_is_raised_not_dropped(client: Client) -> None:
    run = client.start_run(capture_git=False)
    delete_run(client, run.id)  # every later write to this run is refused by the store
    run.log_metric("loss", 1.0)
    with pytest.raises(InvalidStateError, match="active") as raised:
        run.flush()
    assert any("1 metric points were not logged" in note for note in raised.value.__notes__)
    with pytest.raises(InvalidStateError):
        run.end()


def test_artifacts_round_trip(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "nested" / "b.bin").write_bytes(bytes(range(256)) * 10)
    single = tmp_path / "model.pkl"
    single.write_bytes(b"\x00weights\xff")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 6000)  # 1.5 MiB: streamed from the file, not read whole
    with client.start_run(capture_git=False) as run:
        run.log_artifact(single)
        run.log_artifact(single, artifact_path="copies/v1")
        run.log_artifacts(src, artifact_path="data")
        run.log_text("hello", "notes/readme.md")
        run.log_artifact(big, "blobs")
    root = {f.path: f for f in client.list_artifacts(run.id)}
    assert set(root) == {"blobs", "copies", "data", "model.pkl", "notes"}
    assert root["model.pkl"].file_size == single.stat().st_size and root["data"].is_dir
    assert [f.path for f in client.list_artifacts(run.id, "data")] == ["data/a.txt", "data/nested"]

    everything = client.download_artifacts(run.id, dst=tmp_path / "all")
    assert (everything / "data" / "nested" / "b.bin").read_bytes() == (src / "nested" / "b.bin").read_bytes()
    assert (everything / "copies" / "v1" / "model.pkl").read_bytes() == single.read_bytes()
    assert (everything / "notes" / "readme.md").read_text() == "hello"
    assert (everything / "blobs" / "big.bin").read_bytes() == big.read_bytes()
    folder = client.download_artifacts(run.id, "data", tmp_path / "one")
    assert folder == tmp_path / "one" / "data" and (folder / "a.txt").read_text() == "alpha"
    file = client.download_artifacts(run.id, "notes/readme.md", tmp_path / "file")
    assert file.read_text() == "hello"
    with pytest.raises(NotFoundError):
        client.download_artifacts(run.id, "missing.txt", tmp_path / "none")


def test_dataset_input_is_recorded(client: Client) -> None:
    with client.start_run(capture_git=False) as run:
        run.log_input("mnist-train", "d41d8cd9", "s3://bucket/mnist.parquet",
                      schema={"mlflow_colspec": [{"name": "x", "type": "double"}]}, context="training")
    (di,) = client.get_run(run.id).dataset_inputs
    assert (di.dataset.name, di.dataset.digest, di.dataset.source_type) == ("mnist-train", "d41d8cd9", "s3")
    assert "mlflow_colspec" in di.dataset.schema and di.tags == {"mlflow.data.context": "training"}
    # written as mlflow.data writes it, so MLflow reads the source back (the raw URI was not JSON)
    import mlflow.data
    from mlflow.entities import Dataset as MlflowDataset

    source = mlflow.data.get_source(MlflowDataset(di.dataset.name, di.dataset.digest, di.dataset.source_type,
                                                  di.dataset.source))
    assert source.uri == "s3://bucket/mnist.parquet"


@pytest.mark.parametrize(("where", "kind", "doc"), [
    ("/data/train.csv", "local", {"uri": "/data/train.csv"}), ("gs://b/t.parquet", "gs", {"uri": "gs://b/t.parquet"}),
    ("https://x.example/t.csv", "http", {"url": "https://x.example/t.csv"}),
    ('{"uri": "s3://b/k"}', "local", {"uri": "s3://b/k"}),
])
def test_a_dataset_source_is_written_as_mlflow_data_writes_it(where: str, kind: str, doc: dict) -> None:
    import json

    from opsloop.sdk.run import _dataset_source

    got_kind, got = _dataset_source(where)
    assert got_kind == kind and json.loads(got) == doc


def test_search_runs_filters_and_orders(client: Client) -> None:
    for loss in (0.3, 0.1, 0.7):
        with client.start_run(experiment="search", params={"loss": loss}, capture_git=False) as run:
            run.log_metric("loss", loss)
    found = client.search_runs("search", filter="metrics.loss < 0.5", order_by=["metrics.loss ASC"])
    assert [r.params["loss"] for r in found] == ["0.1", "0.3"]
    assert len(client.search_runs("search", max_results=2)) == 2
    assert {e.name for e in client.search_experiments(filter="name = 'search'")} == {"search"}


def test_server_errors_keep_their_message_and_field(client: Client) -> None:
    with pytest.raises(NotFoundError, match="not found") as raised:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert raised.value.field == "run_id"
    with client.start_run(params={"lr": 1}, capture_git=False) as run:
        with pytest.raises(InvalidInputError, match="Changing param values is not allowed") as changed:
            run.log_param("lr", 2)
    assert changed.value.field == "params"


def test_system_metrics_are_sampled_when_enabled(client: Client) -> None:
    with client.start_run(system_metrics=True, system_metrics_interval=0.05, capture_git=False) as run:
        run.log_metric("loss", 1.0)
    keys = {m.key for m in client.get_run(run.id).metrics}
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
            "system/system_memory_usage_percentage"} <= keys
    assert client.get_metric_history(run.id, "system/system_memory_usage_megabytes")[0].value > 0


def test_large_files_are_streamed_into_the_embedded_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsloop.sdk.transports import local

    monkeypatch.setattr(local, "_WHOLE_FILE_BYTES", 10)
    data = tmp_path / "weights.bin"
    data.write_bytes(b"w" * 3_000_000)
    with Client(data_dir=tmp_path / "store") as client:
        with client.start_run(capture_git=False) as run:
            run.log_artifact(data)
        assert client.download_artifacts(run.id, "weights.bin", tmp_path / "out").read_bytes() == data.read_bytes()


def test_a_model_logged_with_mlflow_is_found_under_its_name_in_the_run(server, tmp_path: Path,  # noqa: ANN001
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # mlflow 3's log_model(name="model") keeps the files with the logged model, not among the run's artifacts;
    # `download_artifacts(run_id, "model")` (docs/sdk.md, and `opsloop artifacts download RUN model` in the
    # README) answered "No artifact at …/artifacts/model".
    import mlflow
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), name="model")
        mlflow.log_text("hi", "notes.txt")
    run_id = run.info.run_id
    for name, client in (("http", Client(server.url)), ("local", Client(data_dir=server.data_dir))):
        with client:
            assert "model/MLmodel" in {f.path for f in client.list_artifacts(run_id, "model")}
            assert [f.path for f in client.list_artifacts(run_id)] == ["notes.txt"]
            folder = client.download_artifacts(run_id, "model", dst=tmp_path / name)
            assert folder == tmp_path / name / "model" and (folder / "MLmodel").is_file()
            assert "sklearn" in (folder / "MLmodel").read_text()
            single = client.download_artifacts(run_id, "model/MLmodel", dst=tmp_path / f"{name}-one")
            assert single.name == "MLmodel" and single.read_text() == (folder / "MLmodel").read_text()
            with pytest.raises(NotFoundError):
                client.download_artifacts(run_id, "no-such-model", dst=tmp_path / "none")


@pytest.mark.parametrize("backend", ["local", "http"])
def test_the_runs_client_still_reads_after_the_run_ended(backend: str, request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
    """``opsloop.start_run`` closes the client it made when the run ends; reading through ``run.client``
    afterwards (the run's metrics, say) works on either backend, as it did on the embedded store."""
    import opsloop

    where = {"url": request.getfixturevalue("server_url")} if backend == "http" else {"data_dir": tmp_path / "s"}
    with opsloop.start_run("after-end", capture_git=False, **where) as run:
        run.log_metric("loss", 0.5, step=1)
    assert [m.value for m in run.client.get_metric_history(run.id, "loss")] == [0.5]
    assert run.client.get_run(run.id).info.status == "FINISHED"
    run.client.close()


def test_an_experiment_named_with_leading_zeros_is_found_by_its_name_not_as_an_id(client: Client) -> None:
    """"007" is the name of an experiment, not id 7 written another way (the server reads "007" as id 7)."""
    import uuid

    first = client.create_experiment(f"first-{uuid.uuid4().hex}")
    padded = f"{int(first):03d}"
    with client.start_run(padded, run_name="in-padded", capture_git=False):
        pass
    assert client.get_experiment(padded).name == padded
    assert [r.info.run_name for r in client.search_runs(padded)] == ["in-padded"]
    assert client.get_experiment(first).experiment_id == first  # a plain id is still an id


@pytest.mark.parametrize("timestamp", [-5, 2**70])
def test_a_bad_timestamp_is_refused_where_it_is_logged_and_costs_no_other_point(client: Client,
                                                                                 timestamp: int) -> None:
    with client.start_run(capture_git=False, flush_interval=3600) as run:
        for i in range(10):
            run.log_metric("good", i, step=i)
        with pytest.raises(InvalidInputError) as raised:
            run.log_metric("bad", 1.0, timestamp=timestamp)
        assert raised.value.field == "timestamp"
        with pytest.raises(InvalidInputError):
            run.log_metrics({"bad": 1.0}, timestamp=timestamp)
    assert len(client.get_metric_history(run.id, "good")) == 10
