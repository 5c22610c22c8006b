"""A tracking server that goes away and comes back (a restart, a deploy) loses no metric point and doubles none."""

from __future__ import annotations

from pathlib import Path

from opsloop.sdk import Client, Retries
from tests.conftest import ServerProcess


def test_metrics_logged_while_the_server_restarts_all_arrive_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        # each request gives up fast, as on a server down for longer than its retries: the run must still wait
        client = Client(server.url, retries=Retries(attempts=1, backoff=0.05, max_backoff=0.05))
        run = client.start_run("outage", capture_git=False, flush_interval=0.05)
        for i in range(1000):
            run.log_metric("x", i, step=i)
        run.flush()
        server.kill()
        for i in range(1000, 3000):
            run.log_metric("x", i, step=i)  # queued; sent once the server is back
        server.start()  # same port and data folder; taking seconds, far longer than one request's retries
        run.end()
        assert [m.step for m in client.get_metric_history(run.id, "x")] == list(range(3000))
        assert client.get_run(run.id).info.status == "FINISHED"
        client.close()
    finally:
        server.stop()


def test_a_run_ended_while_the_server_restarts_is_finished_once_it_is_back(tmp_path: Path) -> None:
    import threading

    server = ServerProcess(tmp_path / "data").start()
    try:
        client = Client(server.url, retries=Retries(attempts=1, backoff=0.05, max_backoff=0.05))
        run = client.start_run("outage-end", capture_git=False)
        run.log_metric("x", 1.0)
        run.flush()
        server.kill()
        failures: list[BaseException] = []

        def end() -> None:
            try:
                run.end()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)

        ender = threading.Thread(target=end)
        ender.start()  # the training script ends while the server is down…
        server.start()  # …and the server comes back seconds later
        ender.join(120)
        assert not failures and client.get_run(run.id).info.status == "FINISHED"
        client.close()
    finally:
        server.stop()
