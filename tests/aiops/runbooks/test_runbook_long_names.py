"""A runbook's name may be 200 characters; what it writes as its actor (``runbook:NAME``) is longer. On
PostgreSQL, whose ``VARCHAR(200)`` columns refuse the longer actor, the incident that triggered such a
runbook could not be written (the alert was refused), and an operator's run asked for with a longer
actor (the API takes any string) could not be queued."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.aiops.runbooks._helpers import BACKENDS, backend_settings, drift_incident, python, run_queued

from opsloop.aiops.pipeline import Pipeline
from opsloop.aiops.runbooks.catalog import runbook_actor
from opsloop.runtime import build_runtime


@BACKENDS
def test_a_runbook_with_the_longest_name_is_triggered_run_and_recorded(backend: str, tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    name = "r" * 200
    runtime = build_runtime(backend_settings(backend, tmp_path, request))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        pipeline.set_config("runbooks", [{"name": name, "trigger": {},
                                          "action": {"type": "command", "argv": python("print('done')")}}])
        incident_id = drift_incident(pipeline)  # opens the incident, which queues the run
        run_queued(pipeline, gate=None)
        (done,) = pipeline.runbooks.runs.list(incident_id=incident_id)
        by_hand = pipeline.runbooks.request(incident_id, name, "a" * 300)  # the API takes any actor string
        run_queued(pipeline, gate=None)
        again = pipeline.runbooks.runs.get(by_hand["id"])
        timeline = [e for e in pipeline.stores.incidents.timeline(incident_id) if e["kind"] == "runbook"]
        trail = pipeline.stores.incidents.audit_trail("runbook_run")
    finally:
        runtime.close()
    assert done["state"] == "succeeded" and done["runbook"] == name, done
    assert again["state"] == "succeeded" and again["actor"] == "a" * 200, again
    assert [e["text"] for e in timeline] == [f"runbook {name!r} queued (on opened)",
                                            f"runbook {name!r} succeeded (exit 0)",
                                            f"runbook {name!r} queued (asked by {'a' * 200})",
                                            f"runbook {name!r} succeeded (exit 0)"]
    assert all(e["data"]["runbook"] == name and len(e["actor"]) <= 200 for e in timeline), timeline
    assert {(a["action"], a["data"]["runbook"]) for a in trail} == {("queue", name), ("succeeded", name)}
    assert {a["actor"] for a in trail} == {runbook_actor(name), "a" * 200}
