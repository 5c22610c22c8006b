"""A retrain's ``timeout_s`` bounds training and validation together; the alias moves only after a
validation that passed in time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.aiops.runbooks._helpers import OneCandidateGate, drift_incident, python, run_queued

from opsloop.aiops.pipeline import Pipeline
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


class SlowGate(OneCandidateGate):
    """A registry where the program "registers" version 2 and validation takes ``validate_s``."""

    def __init__(self, validate_s: float) -> None:
        self.validate_s = validate_s
        self.promoted: list[str] = []

    def validate(self, model: str, version: str, *, alias: str, data: str,
                 policy: dict[str, Any] | str | None) -> dict[str, Any]:
        time.sleep(self.validate_s)
        return {"passed": True, "alias": alias, "champion_version": "1", "validation_id": 7, "rules": []}

    def promote(self, model: str, version: str, *, alias: str, actor: str, reason: str) -> None:
        self.promoted.append(version)


def _run_once(tmp_path: Path, gate: SlowGate, timeout_s: float) -> dict[str, Any]:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        pipeline.set_config("runbooks", [{"name": "retrain", "action": {
            "type": "retrain", "argv": python("print('trained')"), "timeout_s": timeout_s, "model": "m",
            "data": "unused.csv"}}])
        run = pipeline.runbooks.request(drift_incident(pipeline), "retrain", "alice")
        run_queued(pipeline, gate)
        return pipeline.runbooks.runs.get(run["id"])
    finally:
        runtime.close()


def test_validation_past_the_timeout_fails_the_run_and_never_promotes(tmp_path: Path) -> None:
    gate = SlowGate(validate_s=3.0)
    run = _run_once(tmp_path, gate, timeout_s=1.5)
    assert run["state"] == "failed", run
    assert "did not finish within the run's timeout_s (1.5 s, training included)" in run["error"]
    assert run["candidate_version"] == "2"
    time.sleep(2.0)  # the abandoned validation thread ends; it still must not promote
    assert gate.promoted == []


def test_validation_in_time_promotes(tmp_path: Path) -> None:
    gate = SlowGate(validate_s=0.0)
    run = _run_once(tmp_path, gate, timeout_s=60)
    assert run["state"] == "succeeded", run
    assert run["validation"]["passed"] and run["validation"]["promoted"]
    assert gate.promoted == ["2"]
