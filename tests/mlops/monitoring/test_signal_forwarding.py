"""The loop's MLOps → operations link: a served model's drift signals reach a real opsloop server's
AIOps pipeline (an incident about the model opens), also when that server comes up only later."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import ServerProcess, wait_until
from tests.mlops.monitoring.test_drift_and_performance import drift_amount

from opsloop.core.signals import Signal
from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor
from opsloop.mlops.monitoring.forwarding import SignalForwarder

API = "/api/opsloop/v1"


def _drifted_monitor() -> ModelMonitor:
    monitor = ModelMonitor(InMemoryMonitoringStore(), "fraud")
    drift_amount(monitor)
    return monitor


def test_drift_reaches_a_server_that_comes_up_later_and_opens_an_incident(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")  # its port is chosen, nothing listens there yet
    forwarder = SignalForwarder(server.url, backoff=0.1, max_backoff=0.5)
    forwarder.start()
    monitor = _drifted_monitor()
    monitor.on_signals = forwarder.send
    try:
        _, signals = monitor.check_drift()
        assert [s.labels["feature"] for s in signals] == ["amount"]
        time.sleep(1.0)  # a few refused connections: the signal waits in the queue
        assert forwarder.pending() == 1 and forwarder.sent == 0
        server.start()
        wait_until(lambda: forwarder.sent == 1)
        got = httpx.get(server.url + API + "/signals", params={"kind": "model_drift"}).json()["signals"]
        assert [(s["service"], s["labels"]["feature"], s["source"]) for s in got] == [("fraud", "amount",
                                                                                       "monitor:drift")]
        incidents = httpx.get(server.url + API + "/incidents", params={"service": "fraud"}).json()["incidents"]
        assert len(incidents) == 1 and incidents[0]["labels"]["model"] == "fraud"
    finally:
        forwarder.stop()
        server.stop()


@pytest.fixture
def server(tmp_path: Path):  # noqa: ANN201
    proc = ServerProcess(tmp_path / "data").start()
    yield proc
    proc.stop()


def test_a_refused_signal_is_dropped_not_retried_forever(server: ServerProcess) -> None:
    forwarder = SignalForwarder(server.url, backoff=0.1)
    forwarder.start()
    bad = Signal(time=time.time(), source="monitor:drift", kind="not-a-kind", service="fraud")  # type: ignore[arg-type]
    good = Signal(time=time.time(), source="monitor:drift", kind="model_drift", service="fraud",
                  labels={"model": "fraud", "feature": "age"}, text="age drifted")
    forwarder.send([bad])
    forwarder.send([good])
    wait_until(lambda: forwarder.pending() == 0 and forwarder.sent + forwarder.refused == 2)
    forwarder.stop()
    assert forwarder.refused == 1 and forwarder.sent == 1
    got = httpx.get(server.url + API + "/signals", params={"kind": "model_drift"}).json()["signals"]
    assert [s["labels"]["feature"] for s in got] == ["age"]


def test_the_queue_is_bounded_oldest_dropped_first() -> None:
    forwarder = SignalForwarder("http://127.0.0.1:9", max_queue=3)  # never started: nothing is sent
    forwarder.send([Signal(time=float(i), source="s", kind="model_drift", service="m") for i in range(5)])
    assert forwarder.pending() == 3 and forwarder.dropped == 2


def test_a_serving_monitor_configured_to_report_sends_its_scheduled_findings(server: ServerProcess) -> None:
    from opsloop.mlops.monitoring.service import MonitorConfig

    running = MonitorConfig(store_url="memory://", model_name="fraud", report_to=server.url).build(model=None)
    drift_amount(running.monitor)
    running.start()
    try:
        running.check_now()  # one round of the --drift-interval schedule
        got = wait_until(lambda: httpx.get(server.url + API + "/signals", params={"kind": "model_drift"}).json()["signals"])
        assert [s["labels"]["feature"] for s in got] == ["amount"]
    finally:
        running.stop()


def test_serve_refuses_report_to_without_a_monitor_and_a_url_that_is_not_http(
        capsys: pytest.CaptureFixture[str]) -> None:
    from opsloop.cli import main

    assert main(["serve", "models:/fraud@champion", "--report-to", "http://127.0.0.1:9"]) != 0
    assert "--monitor-store" in capsys.readouterr().err
    assert main(["serve", "models:/fraud@champion", "--monitor-store", "memory://", "--workers", "1",
                 "--report-to", "ftp://x"]) != 0
    assert "http(s) URL" in capsys.readouterr().err
