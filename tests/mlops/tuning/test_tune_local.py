"""``tune`` in this process: every trial a nested run on the server, readable with the mlflow client."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient
from tests.conftest import ServerProcess

from opsloop.errors import InvalidInputError, InvalidStateError, StorageError
from opsloop.mlops.tuning import Trial, tune
from opsloop.sdk import Client
from opsloop.sdk.transports.http import HttpTransport, Retries

SPACE = {"x": {"low": -4.0, "high": 4.0}, "shape": ["bowl", "flat"], "epochs": {"value": 4}}


def bowl(trial: Trial) -> float:
    x, shape = trial.params["x"], trial.params["shape"]
    for step in range(trial.params["epochs"]):
        trial.report((x - 1) ** 2 + 1 / (step + 1), step)
        trial.log_metric("width", abs(x), step=step)
    return (x - 1) ** 2 + (2.0 if shape == "flat" else 0.0)


def test_trials_are_nested_runs_and_the_best_is_the_minimum(module_server: Any) -> None:
    result = tune(bowl, SPACE, metric="loss", n_trials=8, seed=11, experiment="tune-bowl",
                  url=module_server.url, run_name="bowl-search")
    assert [t.state for t in result.trials] == ["complete"] * 8
    values = {t.run_id: t.value for t in result.trials}
    assert result.best_value == min(v for v in values.values() if v is not None)
    assert result.best_params == next(t.params for t in result.trials if t.value == result.best_value)

    client = MlflowClient(module_server.url)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.info.run_name == "bowl-search"
    assert parent.data.params == {k: str(v) for k, v in result.best_params.items()}
    assert parent.data.tags["opsloop.tuning.best_run_id"] == result.best_run_id
    assert parent.data.metrics["loss"] == result.best_value
    curve = [m.value for m in sorted(client.get_metric_history(parent.info.run_id, "loss"), key=lambda m: m.step)]
    assert curve == sorted(curve, reverse=True) and len(curve) == 8  # best so far, trial by trial

    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                  max_results=100)
    assert {run.info.run_id for run in children} == set(values)
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.metrics["loss"] == values[run.info.run_id]  # the latest value is the trial's value
        assert run.data.params["epochs"] == "4" and run.data.tags["opsloop.tuning.state"] == "complete"
        assert len(client.get_metric_history(run.info.run_id, "width")) == 4
    best_child = client.get_run(result.best_run_id)
    assert float(best_child.data.params["x"]) == result.best_params["x"]
    trials_file = Path(client.download_artifacts(parent.info.run_id, "tuning/trials.json"))
    assert [t["run_id"] for t in json.loads(trials_file.read_text())] == [t.run_id for t in result.trials]


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    def sometimes_fails(trial: Trial) -> float:
        if trial.params["shape"] == "flat":
            raise RuntimeError("diverged")
        return trial.params["x"] ** 2

    result = tune(sometimes_fails, SPACE, metric="loss", n_trials=10, seed=3, data_dir=tmp_path, concurrency=2)
    failed = [t for t in result.trials if t.state == "failed"]
    assert failed and len(failed) < 10
    client = Client(data_dir=tmp_path)
    for trial in failed:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FAILED"
        assert "RuntimeError: diverged" in run.tags["opsloop.tuning.error"]
    assert all(t.params["shape"] == "bowl" for t in result.completed)
    assert client.get_run(result.parent_run_id).tags["opsloop.tuning.failed"] == str(len(failed))


def test_median_pruning_stops_trials_worse_than_the_median(tmp_path: Path) -> None:
    def slow_if_far(trial: Trial) -> float:
        value = 0.0
        for step in range(5):
            value = abs(trial.params["x"]) * 10 + 1 / (step + 1)
            trial.report(value, step)
        return value

    result = tune(slow_if_far, {"x": {"low": -4.0, "high": 4.0}}, metric="loss", n_trials=15, seed=5,
                  sampler="random", pruning=True, data_dir=tmp_path)
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned
    client = Client(data_dir=tmp_path)
    for trial in pruned:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FINISHED" and run.tags["opsloop.tuning.state"] == "pruned"
        history = client.get_metric_history(trial.run_id, "loss")
        assert 2 <= len(history) < 5  # stopped after step 1 was judged, before the end
    assert result.best is not None and result.best.state == "complete"


def test_no_completed_trial_fails_the_session_with_the_first_error(tmp_path: Path) -> None:
    def broken(trial: Trial) -> float:
        return float("nan")

    with pytest.raises(InvalidStateError, match="no trial of 3 completed") as caught:
        tune(broken, SPACE, metric="loss", n_trials=3, data_dir=tmp_path, run_name="broken")
    assert "finite number" in str(caught.value)
    client = Client(data_dir=tmp_path)
    (parent,) = [run for run in client.search_runs() if run.info.run_name == "broken"]
    assert parent.info.status == "FAILED"


def test_ctrl_c_ends_the_trial_and_the_session_killed(tmp_path: Path) -> None:
    def interrupted(trial: Trial) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(interrupted, SPACE, metric="loss", n_trials=3, data_dir=tmp_path, run_name="stopped")
    runs = {run.info.run_name: run for run in Client(data_dir=tmp_path).search_runs()}
    assert runs["stopped"].info.status == "KILLED"
    assert runs["stopped-trial-0"].info.status == "KILLED"
    assert len(runs) == 2  # no trial started after the interrupt


def test_ctrl_c_stops_the_trials_running_in_other_threads_at_their_next_report(tmp_path: Path) -> None:
    started = threading.Semaphore(0)

    def slow(trial: Trial) -> float:
        started.release()
        for step in range(100):
            trial.report(1.0, step)
            time.sleep(0.05)
        return 1.0

    def ctrl_c_once_both_run() -> None:
        started.acquire()
        started.acquire()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_once_both_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        tune(slow, SPACE, metric="loss", n_trials=4, concurrency=2, data_dir=tmp_path, run_name="stopped")
    runs = {run.info.run_name: run for run in Client(data_dir=tmp_path).search_runs()}
    assert sorted(runs) == ["stopped", "stopped-trial-0", "stopped-trial-1"]
    assert {run.info.status for run in runs.values()} == {"KILLED"}


@pytest.mark.parametrize(("options", "field"), [
    ({"metric": ""}, "metric"),
    ({"direction": "up"}, "direction"),
    ({"n_trials": 0}, "n_trials"),
    ({"concurrency": True}, "concurrency"),
    ({"timeout_s": -1}, "timeout_s"),
    ({"sampler": "grid"}, "sampler"),
    ({"backend": "dask"}, "backend"),
    ({"seed": "7"}, "seed"),
    ({"n_trails": 3}, "n_trails"),
])
def test_bad_options_are_refused_before_any_run(tmp_path: Path, options: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"metric": "loss", **options}
    with pytest.raises(InvalidInputError) as caught:
        tune(bowl, SPACE, data_dir=tmp_path, **arguments)
    assert caught.value.field == field
    assert Client(data_dir=tmp_path).search_runs() == []


def test_reporting_bad_values_is_refused_inside_the_objective(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def careless(trial: Trial) -> float:
        for call in (lambda: trial.report(float("inf"), 0), lambda: trial.report(1.0, -1),
                     lambda: trial.log_metric("loss", 1.0)):
            try:
                call()
            except InvalidInputError as error:
                seen.append(error.field)
        return 1.0

    tune(careless, SPACE, metric="loss", n_trials=1, data_dir=tmp_path)
    assert seen == ["value", "step", "loss"]


def test_numpy_values_and_steps_are_taken_as_numbers(tmp_path: Path) -> None:
    def with_numpy(trial: Trial) -> Any:
        for epoch in np.arange(3):  # numpy integers, as np.arange and array indexing give
            trial.report(np.float32(1.0) / (epoch + 1), epoch)
            trial.log_metric("acc", np.float64(0.5), step=epoch)
        return np.float64(0.25)

    result = tune(with_numpy, SPACE, metric="loss", n_trials=1, data_dir=tmp_path)
    assert [t.state for t in result.trials] == ["complete"] and result.best_value == 0.25
    history = Client(data_dir=tmp_path).get_metric_history(result.trials[0].run_id, "loss")
    assert sorted((point.step, point.value) for point in history)[:2] == [(0, 1.0), (1, 0.5)]
    assert {point.step for point in history} == {0, 1, 2}


def test_a_trial_the_backend_leaves_open_ends_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray Tune stopped by Ctrl-C returns without ending its running trials: the session ends them."""
    import opsloop.mlops.tuning.local as local

    def stops_midway(objective: Any, recorder: Any, options: Any) -> None:
        recorder.start("a", {"x": 0.5, "shape": "bowl"})
        recorder.finish("a", "complete", value=0.25)
        recorder.start("b", {"x": 1.5, "shape": "bowl"})  # never ended by the backend

    monkeypatch.setattr(local, "run_local", stops_midway)
    result = tune(bowl, SPACE, metric="loss", n_trials=2, data_dir=tmp_path)
    assert [t.state for t in result.trials] == ["complete", "killed"]
    run = Client(data_dir=tmp_path).get_run(result.trials[1].run_id)
    assert run.info.status == "KILLED" and "stopped before the trial ended" in run.tags["opsloop.tuning.error"]


def test_a_tracking_server_gone_for_good_stops_the_search_saying_so(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        client = Client(transport=HttpTransport(server.url, retries=Retries(attempts=1), outage_patience=0.5))

        def last_trial_recorded(trial: Trial) -> float:
            if trial.params["x"] > -10:  # the second trial takes the server down
                server.kill()
            return trial.params["x"]

        with pytest.raises(StorageError) as caught:
            tune(last_trial_recorded, {"x": {"low": -20.0, "high": 20.0}}, metric="loss", n_trials=50, seed=3,
                 sampler="random", client=client)
        client.close()
        assert "the search stopped: trial" in caught.value.message and "could not be recorded" in caught.value.message
    finally:
        server.kill()
