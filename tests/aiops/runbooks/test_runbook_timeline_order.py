"""An incident's timeline tells what happened before what it set off: "incident opened" (or the state
change) comes before "runbook … queued (on opened)", which the opening caused."""

from __future__ import annotations

import time
from pathlib import Path

from tests.aiops.runbooks._helpers import drift_incident, python

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Severity, Signal
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


def test_the_opening_and_the_resolution_come_before_the_runbooks_they_queue(tmp_path: Path) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        action = {"type": "command", "argv": python("print('ok')")}
        pipeline.set_config("runbooks", [{"name": "heal", "trigger": {"events": ["opened"]}, "action": action},
                                         {"name": "notes", "trigger": {"events": ["resolved"]}, "action": action}])
        incident_id = drift_incident(pipeline)
        resolved = Signal(time=time.time(), source="test", kind="alert", service="m", status="resolved",
                          labels={"alertname": "Drift"}, severity=Severity.WARNING, text="drift")
        pipeline.ingest([resolved])
        kinds = [(e["kind"], e["text"].split(":")[0]) for e in pipeline.stores.incidents.timeline(incident_id)
                 if e["kind"] in ("opened", "state", "runbook")]
    finally:
        runtime.close()
    assert kinds == [("opened", "incident opened"), ("runbook", "runbook 'heal' queued (on opened)"),
                     ("state", "triggered → resolved (auto_resolve)"),
                     ("runbook", "runbook 'notes' queued (on resolved)")], kinds
