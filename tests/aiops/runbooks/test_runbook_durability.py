"""A run is queued in the transaction of the incident change that asks for it, so a server that is
not running (or restarts) loses none: the next runner to start runs it. A run whose server died
mid-run is recorded as failed, not left ``running`` for ever."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.aiops.runbooks._helpers import BACKENDS, backend_settings, python, runs, wait_runs

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Severity, Signal
from opsloop.runtime import build_runtime
from opsloop.server.app import create_app


@BACKENDS
def test_a_run_queued_while_no_runner_runs_is_run_when_the_server_starts(backend: str, tmp_path: Path,
                                                                          request: pytest.FixtureRequest) -> None:
    settings = backend_settings(backend, tmp_path, request)
    runtime = build_runtime(settings)
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        pipeline.set_config("runbooks", [
            {"name": "note", "trigger": {"matchers": ['service="db"']},
             "action": {"type": "command", "argv": python("import sys, json; print(json.load(sys.stdin)['event'])")}},
            {"name": "stuck", "action": {"type": "command", "argv": python("print(1)")}}])
        report = pipeline.ingest([Signal(time=time.time(), source="test", kind="alert", service="db",
                                         labels={"alertname": "DiskFull", "service": "db"},
                                         severity=Severity.CRITICAL, text="disk full")])
        (incident_id,) = report.opened
        (queued,) = pipeline.runbooks.runs.list(incident_id=incident_id)
        assert queued["state"] == "queued" and queued["trigger"] == "opened"
        # A run a dead server had claimed: its lease ran out.
        stuck = pipeline.runbooks.request(incident_id, "stuck", "bob")
        assert pipeline.runbooks.runs.claim(stuck["id"], time.time() - 600, time.time() - 1)
    finally:
        runtime.close()

    with TestClient(create_app(settings)) as client:
        done = {r["runbook"]: r for r in wait_runs(client, 2, incident_id=incident_id)}
    assert done["note"]["state"] == "succeeded" and done["note"]["output"].strip() == "opened"
    assert done["stuck"]["state"] == "failed" and "interrupted" in done["stuck"]["error"]


def test_one_run_waits_per_incident_and_runbook(client) -> None:  # noqa: ANN001
    pipeline = client.app.state.aiops
    pipeline.set_config("runbooks", [{"name": "slow", "trigger": {"events": ["opened", "acknowledged"]},
                                      "action": {"type": "command", "argv": python("print('x')")}}])
    with pipeline.lock, pipeline.stores.db.write() as conn:
        row = {"id": 1, "title": "t", "state": "triggered", "severity": 3, "service": "s", "labels": {}}
        pipeline.stores.incidents.create(conn, {"title": "t", "state": "triggered", "severity": 3, "service": "s",
                                                "services": ["s"], "labels": {}, "assignee": "", "signal_count": 1,
                                                "open_signals": 1, "created_at": 1.0, "updated_at": 1.0,
                                                "first_signal_at": 1.0, "last_signal_at": 1.0, "resolution": "",
                                                "reasons": [], "flags": []})
        assert pipeline.runbooks.on_incident_event(conn, "opened", row, 1.0) == 1
        assert pipeline.runbooks.on_incident_event(conn, "acknowledged", row, 2.0) == 0  # one is already queued
    assert len(wait_runs(client, 1, incident_id=1)) == 1
    assert len(runs(client, incident_id=1)) == 1
