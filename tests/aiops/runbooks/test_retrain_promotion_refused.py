"""A candidate that passed its gate but whose promotion the registry refused (another candidate became
champion while it was validated: its validation is stale) fails its run with the registry's reason. The
timeline line said it had "failed its gate (not passed)" — a gate it passed —, left the reason out and
said the alias stayed at the version it had been validated against (another one holds it now)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.aiops.runbooks._helpers import OneCandidateGate, drift_incident, python, run_queued

from opsloop.aiops.pipeline import Pipeline
from opsloop.errors import InvalidStateError
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings

STALE = ("Validation #7 compared version 2 with version 1, but m@champion now points to version 3; "
         "validate again.")


class RacedGate(OneCandidateGate):
    """Version 2 passes against version 1; by the time it is promoted, another run made version 3
    champion (the registry's refusal of a stale validation)."""

    def validate(self, model: str, version: str, *, alias: str, data: str,
                 policy: dict[str, Any] | str | None) -> dict[str, Any]:
        return {"passed": True, "alias": alias, "champion_version": "1", "validation_id": 7,
                "rules": [{"rule": "accuracy >= champion - 0.01", "status": "passed", "candidate": 0.9,
                           "champion": 0.85, "bound": 0.84}]}

    def promote(self, model: str, version: str, *, alias: str, actor: str, reason: str) -> None:
        raise InvalidStateError(STALE, field="version")


def test_a_passed_candidate_whose_promotion_is_refused_says_so_and_why(tmp_path: Path) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        pipeline.set_config("runbooks", [{"name": "retrain", "action": {
            "type": "retrain", "argv": python("print('trained')"), "model": "m", "data": "unused.csv"}}])
        incident_id = drift_incident(pipeline)
        run = pipeline.runbooks.request(incident_id, "retrain", "alice")
        run_queued(pipeline, RacedGate())
        done = pipeline.runbooks.runs.get(run["id"])
        timeline = [e["text"] for e in pipeline.stores.incidents.timeline(incident_id) if e["kind"] == "runbook"]
    finally:
        runtime.close()
    assert done["state"] == "failed" and done["error"] == f"promoting version 2 failed: {STALE}", done
    assert done["validation"]["passed"] and not done["validation"]["promoted"]
    assert timeline[-1] == (f"runbook 'retrain': m version 2 passed its gate, but promoting version 2 failed: "
                            f"{STALE}; m@champion did not move to it"), timeline
    assert not any("failed its gate" in t for t in timeline), timeline
