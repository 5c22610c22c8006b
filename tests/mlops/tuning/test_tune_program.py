"""``opsloop tune SPEC``: a training script that logs with the unmodified mlflow client, run once per trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from tests.conftest import OPSLOOP_BIN, ServerProcess

from opsloop.errors import InvalidStateError
from opsloop.mlops.tuning import tune
from opsloop.mlops.tuning.program import program_objective

TRAIN = """
import argparse, sys, time
import mlflow
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--depth", type=int)
parser.add_argument("--epochs", type=int)
parser.add_argument("--pause", type=float, default=0.0)
args = parser.parse_args()
if args.depth == 13:
    print("depth 13 is unlucky", file=sys.stderr)
    sys.exit(3)
with mlflow.start_run():
    mlflow.log_param("lr", args.lr)
    for epoch in range(args.epochs):
        loss = abs(args.lr - 0.05) * 10 + args.depth * 0.01 + 1 / (epoch + 1)
        mlflow.log_metric("val_loss", loss, step=epoch)
        time.sleep(args.pause)
"""


def _spec(folder: Path, **overrides: Any) -> Path:
    (folder / "train.py").write_text(TRAIN)
    spec = {"program": f"{sys.executable} train.py", "metric": "val_loss", "n_trials": 4, "seed": 4,
            "experiment": "sweep", "parameters": {"lr": {"low": 0.001, "high": 0.1, "log": True},
                                                  "depth": {"low": 2, "high": 8}, "epochs": {"value": 3}}}
    spec.update(overrides)
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def _tune(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPSLOOP_BIN, "--url", url, "tune", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_the_program_logs_into_each_trial_run_and_the_best_is_reported(module_server: Any, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    done = _tune(module_server.url, str(spec), "--json", "--concurrency", "2", cwd=Path("/"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    trials = report["trials"]
    assert [t["state"] for t in trials] == ["complete"] * 4
    assert report["best"]["value"] == min(t["val_loss"] for t in trials)

    client = MlflowClient(module_server.url)
    for trial in trials:
        run = client.get_run(trial["run"])
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == report["parent_run_id"]
        assert run.data.metrics["val_loss"] == trial["val_loss"]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [0, 1, 2]  # nothing added
        assert float(run.data.params["lr"]) == trial["lr"] and run.data.params["epochs"] == "3"
        assert [a.path for a in client.list_artifacts(run.info.run_id, "tuning")] == ["tuning/output.log"]


def test_a_failing_program_is_a_failed_trial_with_its_output(module_server: Any, tmp_path: Path) -> None:
    spec = _spec(tmp_path, n_trials=2, parameters={"lr": {"value": 0.01}, "depth": [13], "epochs": {"value": 1}})
    done = _tune(module_server.url, str(spec))
    assert done.returncode == 1
    assert "no trial of 2 completed" in done.stderr and "depth 13 is unlucky" in done.stderr
    assert "exited with code 3" in done.stderr
    assert "Traceback" not in done.stderr  # neither in the error nor in Optuna's log of each failed trial


@pytest.mark.parametrize(("overrides", "message"), [
    ({"n_trial": 3}, "unknown key 'n_trial'"),
    ({"program": "no-such-trainer --fast"}, "program: 'no-such-trainer' is not a program"),
    ({"program": "train.py --fast"}, "a Python script runs as 'python train.py --fast'"),  # W&B's `program:`
    ({"parameters": {"lr": {"low": 0.1, "high": 0.01}}}, "parameters.lr.low: low (0.1) is above high"),
    ({"direction": "down"}, "direction: direction must be minimize or maximize"),
])
def test_a_wrong_spec_is_one_line_and_exit_2(module_server: Any, tmp_path: Path, overrides: dict[str, Any],
                                              message: str) -> None:
    done = _tune(module_server.url, str(_spec(tmp_path, **overrides)))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_the_spec_sets_every_session_option_tune_documents(module_server: Any, tmp_path: Path) -> None:
    spec = _spec(tmp_path, n_trials=2, pruning=True, pruning_startup_trials=1, timeout_s=600, sampler="random",
                 direction="min")
    done = _tune(module_server.url, str(spec), "--json")
    assert done.returncode == 0, done.stderr
    trials = json.loads(done.stdout)["trials"]
    assert len(trials) == 2 and trials[0]["state"] == "complete"  # the second may be pruned: startup is 1 trial


def test_without_a_server_it_says_so(tmp_path: Path) -> None:
    done = subprocess.run([OPSLOOP_BIN, "tune", str(_spec(tmp_path))], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 2 and "give the server with --url" in done.stderr


def test_programs_worse_than_the_median_are_stopped_early(module_server: Any, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    objective = program_objective([sys.executable, "train.py"], tracking_uri=module_server.url, poll_s=0.2,
                                  cwd=str(tmp_path))
    result = tune(objective, {"lr": {"low": 0.001, "high": 0.1, "log": True}, "depth": {"value": 2},
                              "epochs": {"value": 12}, "pause": {"value": 0.3}},
                  metric="val_loss", n_trials=8, seed=1, sampler="random", pruning=True, url=module_server.url,
                  experiment="sweep-pruning")
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, [(t.state, t.params["lr"]) for t in result.trials]
    client = MlflowClient(module_server.url)
    for trial in pruned:
        steps = [m.step for m in client.get_metric_history(trial.run_id, "val_loss")]
        assert max(steps) < 11  # the program was stopped before its last epoch
        assert client.get_run(trial.run_id).data.tags["opsloop.tuning.state"] == "pruned"


SLOW = """
import argparse, os, pathlib, time
import mlflow
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args = parser.parse_args()
with mlflow.start_run():
    mlflow.log_metric("val_loss", args.x, step=0)
    pathlib.Path(f"started-{os.getpid()}").touch()
    for epoch in range(1, 60):
        time.sleep(0.25)
        mlflow.log_metric("val_loss", args.x, step=epoch)
"""


def test_ctrl_c_stops_every_running_program_and_their_trials_end_killed(module_server: Any, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    objective = program_objective([sys.executable, "slow.py"], tracking_uri=module_server.url, poll_s=0.2,
                                  cwd=str(tmp_path))

    def ctrl_c_once_both_run() -> None:
        while len(list(tmp_path.glob("started-*"))) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # this process only: the programs do not see it

    threading.Thread(target=ctrl_c_once_both_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        tune(objective, {"x": {"low": 0.0, "high": 1.0}}, metric="val_loss", n_trials=4, concurrency=2,
             url=module_server.url, experiment="sweep-ctrl-c")
    client = MlflowClient(module_server.url)
    experiment = client.get_experiment_by_name("sweep-ctrl-c")
    runs = client.search_runs([experiment.experiment_id])
    trials = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    assert len(trials) == 2  # no other trial started
    assert {run.data.tags["opsloop.tuning.state"] for run in trials} == {"killed"}
    assert {run.info.status for run in runs} == {"KILLED"}
    assert all(len(client.get_metric_history(run.info.run_id, "val_loss")) < 59 for run in trials)
    for marker in tmp_path.glob("started-*"):  # each program was stopped, not left running
        pid = int(marker.name.split("-")[1])
        assert not Path(f"/proc/{pid}").exists()


def test_a_program_killed_by_a_signal_says_which_and_keeps_no_traceback_of_opsloop(module_server: Any,
                                                                                   tmp_path: Path) -> None:
    (tmp_path / "oom.py").write_text("import os, signal\nprint('loading data')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    objective = program_objective([sys.executable, "oom.py"], tracking_uri=module_server.url, cwd=str(tmp_path))
    with pytest.raises(InvalidStateError) as caught:
        tune(objective, {"x": [1, 2]}, metric="val_loss", n_trials=1, url=module_server.url, experiment="sweep-oom")
    error = str(caught.value)
    assert "was killed by signal SIGKILL (9)" in error and "loading data" in error
    assert "Traceback" not in error


def test_sigterm_stops_the_cli_search_like_ctrl_c(module_server: Any, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(json.dumps({"program": f"{sys.executable} slow.py", "metric": "val_loss", "n_trials": 4,
                                "concurrency": 2, "experiment": "sweep-sigterm",
                                "parameters": {"x": {"low": 0.0, "high": 1.0}}}))
    search = subprocess.Popen([OPSLOOP_BIN, "--url", module_server.url, "tune", str(spec)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while len(list(tmp_path.glob("started-*"))) < 2 and search.poll() is None:
        time.sleep(0.05)
    search.terminate()
    search.communicate(timeout=60)
    client = MlflowClient(module_server.url)
    runs = client.search_runs([client.get_experiment_by_name("sweep-sigterm").experiment_id])
    assert len(runs) == 3 and {run.info.status for run in runs} == {"KILLED"}
    for marker in tmp_path.glob("started-*"):
        assert not Path(f"/proc/{marker.name.split('-')[1]}").exists()


def test_a_server_restart_while_programs_run_fails_no_trial(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    (tmp_path / "patient.py").write_text(
        "import os, pathlib, sys, time\nimport mlflow\nwith mlflow.start_run():\n"
        "    mlflow.log_metric('val_loss', 1.0, step=0)\n    pathlib.Path('started').touch()\n"
        "    while not pathlib.Path('go').exists():\n        time.sleep(0.05)\n"
        "    mlflow.log_metric('val_loss', 0.5, step=1)\n")
    objective = program_objective([sys.executable, "patient.py"], tracking_uri=server.url, poll_s=0.2,
                                  cwd=str(tmp_path))

    def restart_the_server() -> None:
        while not (tmp_path / "started").exists():
            time.sleep(0.05)
        server.kill()
        time.sleep(6)  # longer than the SDK's own retries of one request (about 4 s)
        server.start()
        (tmp_path / "go").touch()

    threading.Thread(target=restart_the_server, daemon=True).start()
    try:
        result = tune(objective, {"x": [1]}, metric="val_loss", n_trials=1, url=server.url, experiment="restart")
        assert [(t.state, t.value) for t in result.trials] == [("complete", 0.5)], result.trials[0].error
    finally:
        server.kill()
