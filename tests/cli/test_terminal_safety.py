"""Text that anyone who can log a run or send an alert controls reaches the terminal as visible text: an
escape sequence in it can neither recolour, clear or rewrite the screen nor shift a table's columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opsloop.cli import main
from opsloop.sdk import Client
from tests.conftest import ServerProcess

_NASTY = "red\x1b[31m\x1b[2J\rgone\x07\x9b0m"


def _assert_inert(out: str) -> None:
    assert not any(c in out for c in "\x1b\r\x07\x9b"), repr(out)
    assert "\\x1b[31m" in out


def test_run_names_params_and_tags_print_escapes_as_visible_text(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with Client(data_dir=tmp_path / "data") as client:
        with client.start_run(_NASTY, run_name=_NASTY, params={"p": _NASTY}, tags={"t": _NASTY},
                              capture_git=False) as run:
            run.log_metric("m", 1.0)
    for args in (["runs", "list"], ["runs", "show", run.id], ["experiments", "list"], ["experiments", "show", _NASTY]):
        assert main([*args, "--data-dir", str(tmp_path / "data")]) == 0
        _assert_inert(capsys.readouterr().out)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("terminal") / "data").start().aiops_ready()
    yield proc
    proc.stop()


def test_alert_text_in_incidents_prints_escapes_as_visible_text(server: ServerProcess,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    alert = {"status": "firing", "labels": {"alertname": "Disk" + _NASTY, "service": "db"},
             "annotations": {"summary": "disk full " + _NASTY}, "startsAt": "2026-01-01T00:00:00Z"}
    answer = httpx.post(f"{server.url}/api/opsloop/v1/ingest/alertmanager", timeout=30,
                        json={"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": [alert]})
    incident = answer.json()["incidents_opened"][0]
    for args in (["list"], ["show", str(incident)], ["ack", str(incident), "-m", "on it"]):
        assert main(["--url", server.url, "incidents", *args]) == 0
        _assert_inert(capsys.readouterr().out)
