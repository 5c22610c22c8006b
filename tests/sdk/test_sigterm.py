"""SIGTERM (kill, Kubernetes, SLURM) to a process logging a run: the queued points are sent, the run ends
KILLED, and the process still dies of the signal; a program's own handler, and forked children, are left be."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from opsloop.sdk import Client

_PRELUDE = """
import os, signal, sys, time, opsloop
where = {"url": sys.argv[1]} if sys.argv[1].startswith("http") else {"data_dir": sys.argv[1]}
"""

_SLEEPING = _PRELUDE + """
run = opsloop.start_run(experiment="sigterm", capture_git=False, flush_interval=3600, **where)
for i in range(2500):  # 2000 sent in batches of 1000, 500 still queued
    run.log_metric("loss", i, step=i)
print(run.id, flush=True)
time.sleep(600)
"""

_BUSY = _PRELUDE + """
run = opsloop.start_run(experiment="sigterm", capture_git=False, **where)
step = 0
while True:  # the signal lands anywhere, often inside log_metric
    run.log_metric("loss", step, step=step)
    step += 1
    if step == 100:
        print(run.id, flush=True)
"""

_OWN_HANDLER = _PRELUDE + """
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
run = opsloop.start_run(experiment="sigterm", capture_git=False, **where)
run.log_metric("loss", 1.0)
print(run.id, flush=True)
time.sleep(600)
"""

_CHAINING_HANDLER = _PRELUDE + """
run = opsloop.start_run(experiment="sigterm", capture_git=False, **where)
previous = signal.getsignal(signal.SIGTERM)

def graceful(signum, frame):  # as PyTorch Lightning's: note it, call the handler it replaced, stop cleanly
    if callable(previous):
        previous(signum, frame)
    sys.exit(3)

signal.signal(signal.SIGTERM, graceful)
run.log_metric("loss", 1.0)
print(run.id, flush=True)
time.sleep(600)
"""

_ENDING_SLOWLY = """
import sys, time
from opsloop.sdk import Client, MockTransport

def slow_backend(operation, arguments):
    if operation == "log_batch" and arguments["metrics"]:
        print("batch", len(arguments["metrics"]), flush=True)
        time.sleep(0.5)
    if operation == "update_run":
        print("status", arguments["status"], flush=True)

client = Client(transport=MockTransport(slow_backend))
print("run", flush=True)
with client.start_run(capture_git=False, flush_interval=3600) as run:
    for i in range(3000):
        run.log_metric("loss", i, step=i)
time.sleep(600)
"""

_FORKED = _PRELUDE + """
run = opsloop.start_run(experiment="sigterm", capture_git=False, **where)
child = os.fork()
if child == 0:  # a data-loader worker, say: stopped with SIGTERM by its parent
    time.sleep(600)
    os._exit(0)
time.sleep(0.5)
os.kill(child, signal.SIGTERM)
_, status = os.waitpid(child, 0)
assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
run.log_metric("loss", 1.0)
print(run.id, flush=True)
"""


def _start(tmp_path: Path, code: str, where: str) -> tuple[subprocess.Popen[str], str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(code))
    proc = subprocess.Popen([sys.executable, str(script), where], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read() if proc.stderr else ""
    return proc, run_id


def _terminated(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        proc.kill()


@pytest.fixture(params=["local", "http"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return request.getfixturevalue("server_url") if request.param == "http" else str(tmp_path / "store")


def _client(where: str) -> Client:
    return Client(where) if where.startswith("http") else Client(data_dir=where)


def test_sigterm_sends_the_queued_points_ends_the_run_killed_and_still_kills(tmp_path: Path, where: str) -> None:
    proc, run_id = _start(tmp_path, _SLEEPING, where)
    assert _terminated(proc) == -signal.SIGTERM  # died of the signal, as without the SDK
    with _client(where) as client:
        assert client.get_run(run_id).info.status == "KILLED"
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(2500))


def test_sigterm_in_the_middle_of_logging_ends_the_run_without_hanging(tmp_path: Path) -> None:
    proc, run_id = _start(tmp_path, _BUSY, str(tmp_path / "store"))
    assert _terminated(proc) == -signal.SIGTERM
    with Client(data_dir=tmp_path / "store") as client:
        assert client.get_run(run_id).info.status == "KILLED"
        steps = [m.step for m in client.get_metric_history(run_id, "loss")]
        assert len(steps) >= 100 and steps == list(range(len(steps)))


def test_sigterm_while_the_run_is_ending_waits_for_its_points(tmp_path: Path) -> None:
    """SIGTERM while the with block was sending the last points: the handler found the run ended and killed the
    process at once, losing the batches not yet sent."""
    proc, first = _start(tmp_path, _ENDING_SLOWLY, "-")
    assert first == "run" and proc.stdout is not None
    assert proc.stdout.readline().strip() == "batch 1000"  # the run is ending: its first batch is being sent
    assert _terminated(proc) == -signal.SIGTERM
    said = proc.stdout.read().split("\n")
    assert said[:3] == ["batch 1000", "batch 1000", "status FINISHED"], said


def test_a_programs_own_sigterm_handler_is_kept(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path, _OWN_HANDLER, str(tmp_path / "store"))
    assert _terminated(proc) == 3


def test_a_handler_installed_later_that_calls_the_sdks_decides_how_the_program_ends(tmp_path: Path) -> None:
    """A handler chaining the one it replaced (PyTorch Lightning's) was cut short: the SDK's killed the process."""
    proc, run_id = _start(tmp_path, _CHAINING_HANDLER, str(tmp_path / "store"))
    assert _terminated(proc) == 3
    with Client(data_dir=tmp_path / "store") as client:
        assert client.get_run(run_id).info.status == "FINISHED"  # sys.exit(3): ended at exit, as documented


def test_a_forked_child_killed_with_sigterm_does_not_end_its_parents_run(tmp_path: Path) -> None:
    proc, run_id = _start(tmp_path, _FORKED, str(tmp_path / "store"))
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    with Client(data_dir=tmp_path / "store") as client:
        assert client.get_run(run_id).info.status == "FINISHED"


_HANDLER_WHILE_OPEN = """
import signal
from opsloop.sdk import Client, MockTransport

assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
client = Client(transport=MockTransport())
first, second = client.start_run(capture_git=False), client.start_run(capture_git=False)
handler = signal.getsignal(signal.SIGTERM)
assert callable(handler), handler
first.end()
assert signal.getsignal(signal.SIGTERM) is handler  # a run is still open
second.end()
assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
"""


def test_the_handler_is_there_while_a_run_is_open_and_only_then() -> None:
    done = subprocess.run([sys.executable, "-c", _HANDLER_WHILE_OPEN], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
