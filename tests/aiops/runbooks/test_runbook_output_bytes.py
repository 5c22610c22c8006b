"""What a runbook's program prints is kept whatever its bytes: a NUL (a binary tool's output, ``find
-print0``) cannot be stored in a PostgreSQL text column, so recording the run failed, the run stayed
``running`` until its lease ran out and was then recorded as interrupted by a server stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.aiops.runbooks._helpers import BACKENDS, backend_settings, drift_incident, python, run_queued

from opsloop.aiops.pipeline import Pipeline
from opsloop.runtime import build_runtime


@BACKENDS
def test_a_program_printing_nul_bytes_is_recorded_with_its_outcome(backend: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    runtime = build_runtime(backend_settings(backend, tmp_path, request))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        pipeline.set_config("runbooks", [
            {"name": "list", "action": {"type": "command", "argv": python(
                "import sys; sys.stdout.write('a.log\\x00b.log\\x00'); sys.stdout.flush(); sys.exit(2)")}}])
        incident_id = drift_incident(pipeline)
        run = pipeline.runbooks.request(incident_id, "list", "alice")
        run_queued(pipeline, gate=None)
        done = pipeline.runbooks.runs.get(run["id"])
        timeline = [e["text"] for e in pipeline.stores.incidents.timeline(incident_id) if e["kind"] == "runbook"]
    finally:
        runtime.close()
    assert done["state"] == "failed" and done["exit_code"] == 2, done
    assert done["error"] == "exited with status 2"
    assert done["output"] == "a.log\ufffdb.log\ufffd", done["output"]  # as undecodable bytes read
    assert "runbook 'list' failed: exited with status 2" in timeline
