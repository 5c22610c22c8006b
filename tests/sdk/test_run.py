"""Run semantics on the in-memory MockTransport: statuses, validation, non-blocking logging, atexit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from opsloop.errors import InvalidInputError, InvalidStateError
from opsloop.sdk import Client, MockTransport


@pytest.fixture
def mock() -> Client:
    return Client(transport=MockTransport())


def _status(client: Client, run_id: str) -> str:
    return client.get_run(run_id).info.status


@pytest.mark.parametrize(("exc", "status"), [(ValueError, "FAILED"), (KeyboardInterrupt, "KILLED"),
                                             (SystemExit(1), "FAILED"), (SystemExit(0), "FINISHED")])
def test_leaving_the_with_block_sets_the_status(mock: Client, exc: BaseException, status: str) -> None:
    with pytest.raises(BaseException):  # noqa: B017 - every kind of exit propagates
        with mock.start_run(capture_git=False) as run:
            run.log_metric("loss", 1.0)
            raise exc
    assert _status(mock, run.id) == status
    assert mock.get_metric_history(run.id, "loss")[0].value == 1.0


def test_log_metric_returns_while_the_transport_is_blocked() -> None:
    entered, release = threading.Event(), threading.Event()

    def handler(operation: str, arguments: dict) -> None:
        if operation == "log_batch" and arguments["metrics"]:
            entered.set()
            release.wait(30)

    client = Client(transport=MockTransport(handler))
    run = client.start_run(capture_git=False, batch_size=10)
    for i in range(10):
        run.log_metric("loss", i, step=i)
    assert entered.wait(30)  # the background sender is stuck inside the transport
    for i in range(10, 500):
        run.log_metric("loss", i, step=i)  # returns: nothing waits for the network
    assert run._batcher.pending == 500
    release.set()
    run.end()
    assert len(client.get_metric_history(run.id, "loss")) == 500


def test_metric_batches_hold_at_most_1000_points(mock: Client) -> None:
    with mock.start_run(capture_git=False) as run:
        for i in range(5500):
            run.log_metric("loss", i, step=i)
    sizes = [len(args["metrics"]) for op, args in mock.transport.calls if op == "log_batch" and args["metrics"]]
    assert sum(sizes) == 5500 and max(sizes) == 1000


@pytest.mark.parametrize(("key", "value", "step"), [("bad key!", 1.0, 0), ("", 1.0, 0), ("ok", "high", 0),
                                                    ("ok", None, 0), ("ok", 1.0, 2**64), ("ok", 10**400, 0),
                                                    ("ok", 1.0, float("nan")), ("ok", 1.0, "abc")])
def test_bad_metrics_are_refused_where_they_are_logged(mock: Client, key: str, value: object, step: int) -> None:
    with mock.start_run(capture_git=False) as run:
        with pytest.raises(InvalidInputError):
            run.log_metric(key, value, step=step)


def test_params_and_tags_are_stringified_and_sent_in_chunks_of_100(mock: Client) -> None:
    with mock.start_run(capture_git=False) as run:
        run.log_params({f"p{i}": i for i in range(250)})
        run.set_tags({"flag": True})
    got = mock.get_run(run.id)
    assert got.params["p249"] == "249" and len(got.params) == 250 and got.tags["flag"] == "True"
    param_calls = [a for op, a in mock.transport.calls if op == "log_batch" and a["params"]]
    assert [len(a["params"]) for a in param_calls] == [100, 100, 50]


def test_end_is_idempotent_and_logging_after_it_is_refused(mock: Client) -> None:
    run = mock.start_run(capture_git=False)
    run.end()
    run.end("FAILED")  # no effect: the run already ended
    assert _status(mock, run.id) == "FINISHED" and run.ended
    with pytest.raises(InvalidStateError):
        run.log_metric("loss", 1.0)
    with pytest.raises(InvalidStateError):
        with run:
            pass


def test_experiment_name_is_created_once_and_reused(mock: Client) -> None:
    first = mock.start_run("exp-a", capture_git=False)
    second = mock.start_run("exp-a", capture_git=False)
    assert first.experiment_id == second.experiment_id != "0"
    first.end()
    second.end()


_SCRIPT = """
import sys, opsloop
run = opsloop.start_run(experiment="atexit", data_dir=sys.argv[1], capture_git=False)
for i in range(3000):
    run.log_metric("loss", i, step=i)
print(run.id, flush=True)
if sys.argv[2] == "crash":
    raise RuntimeError("boom")
if sys.argv[2] == "interrupt":
    raise KeyboardInterrupt
"""


@pytest.mark.parametrize(("mode", "status"), [("exit", "FINISHED"), ("crash", "FAILED"), ("interrupt", "KILLED")])
def test_runs_left_open_are_flushed_and_ended_at_interpreter_exit(tmp_path: Path, mode: str, status: str) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "store"), mode], capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode == 0) == (mode == "exit"), done.stderr
    run_id = done.stdout.strip()
    with Client(data_dir=tmp_path / "store") as client:
        assert client.get_run(run_id).info.status == status
        assert len(client.get_metric_history(run_id, "loss")) == 3000


def test_a_send_error_seen_by_the_system_metrics_thread_still_reaches_the_caller() -> None:
    from opsloop.errors import StorageError

    failing = threading.Event()

    def handler(operation: str, arguments: dict) -> None:
        if operation == "log_batch" and arguments["metrics"] and failing.is_set():
            raise StorageError("store is read-only")

    client = Client(transport=MockTransport(handler))
    run = client.start_run(capture_git=False, system_metrics=True, system_metrics_interval=3600)
    failing.set()
    run.log_metric("loss", 1.0)
    with pytest.raises(StorageError, match="read-only"):
        run.end()
    assert _status(client, run.id) == "FINISHED"


@pytest.mark.parametrize("inside_with", [False, True])
def test_points_lost_at_the_end_are_reported_even_when_the_status_cannot_be_sent(inside_with: bool) -> None:
    from opsloop.errors import StorageError

    backend_gone = threading.Event()

    def handler(operation: str, arguments: dict) -> None:
        if backend_gone.is_set() and operation in ("log_batch", "update_run"):
            raise StorageError(f"{operation}: backend gone")

    client = Client(transport=MockTransport(handler))
    run = client.start_run(capture_git=False, flush_interval=3600)
    backend_gone.set()
    for i in range(10):
        run.log_metric("loss", i, step=i)
    with pytest.raises((StorageError, ValueError)) as raised:
        if inside_with:
            with run:
                raise ValueError("training diverged")
        run.end()
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "10 metric points were not logged" in notes, notes


def test_ending_on_a_backend_the_metric_sender_already_waited_out_does_not_wait_again() -> None:
    """At exit with the server gone, the queued points' patience is spent once, not again for the status."""
    from opsloop.errors import StorageError

    backend_gone = threading.Event()
    status_tries: list[str] = []

    def handler(operation: str, arguments: dict) -> None:
        if backend_gone.is_set() and operation in ("log_batch", "update_run"):
            if operation == "update_run":
                status_tries.append(arguments["status"])
            raise StorageError("backend gone")

    transport = MockTransport(handler)
    transport.outage_patience = 1.0
    run = Client(transport=transport).start_run(capture_git=False, flush_interval=3600)
    backend_gone.set()
    run.log_metric("loss", 1.0)
    with pytest.raises(StorageError):
        run.end()
    assert status_tries == ["FINISHED"]


def test_a_run_in_a_deleted_experiment_is_refused_naming_it(client: Client) -> None:
    """Started by the name of a deleted experiment, a run was refused with 'The experiment 5 must be in the
    'active' state': the user gave a name, and restoring the experiment is the way out."""
    import uuid

    from opsloop.mlops.tracking.lifecycle import NotActiveError

    name = f"retired-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    if client.url:
        import httpx

        httpx.post(f"{client.url}/api/2.0/mlflow/experiments/delete",
                   json={"experiment_id": experiment_id}).raise_for_status()
    else:
        client.transport._runtime.tracking.delete_experiment(experiment_id)
    with pytest.raises(NotActiveError, match=f"experiment '{name}' .* is deleted: restore it") as err:
        client.start_run(name, capture_git=False)
    assert err.value.field == "experiment"
