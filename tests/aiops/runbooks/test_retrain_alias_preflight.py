"""A retrain's ``alias`` is one the registry lets a promotion set: ``latest``, ``v3`` or a name with a space
used to be accepted, the program trained and registered a candidate, and only the promotion at the end
failed ('latest' alias name is reserved) — or, with ``latest``, the candidate was validated against
itself as the champion it was about to replace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.aiops.ingestion._helpers import API
from tests.aiops.runbooks._helpers import configure, drift_incident, python, run_queued

from opsloop.aiops.pipeline import Pipeline
from opsloop.runtime import build_runtime
from opsloop.server.aiops.runbooks import RegistryGate
from opsloop.settings import load_settings


def _retrain(alias: Any, argv: list[str] | None = None) -> dict[str, Any]:
    return {"name": "retrain", "action": {"type": "retrain", "argv": argv or ["python", "train.py"], "model": "m",
                                          "alias": alias, "data": "holdout.csv"}}


def test_an_alias_the_registry_refuses_to_set_is_refused_when_the_runbook_is_configured(client) -> None:  # noqa: ANN001
    for alias, said in [("latest", "'latest' is reserved"), ("LATEST", "'LATEST' is reserved"),
                        ("v3", "'v3' is reserved"), ("two words", "must be at most 255 alphanumerics, underscores (_) and dashes (-)"),
                        ("a" * 256, "must be at most 255 alphanumerics")]:
        r = client.put(API + "/aiops/config/runbooks", json=[_retrain(alias)])
        assert r.status_code == 400, (alias, r.text)
        body = r.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["field"] == "alias", (alias, body)
        assert said in body["message"] and "runbook 'retrain'" in body["message"], (alias, body)
    assert client.get(API + "/runbooks").json()["runbooks"] == []

    configure(client, [_retrain("champion"), {**_retrain("prod-2_b"), "name": "other"}])
    aliases = [rb["action"]["alias"] for rb in client.get(API + "/runbooks").json()["runbooks"]]
    assert aliases == ["champion", "prod-2_b"]


def test_a_stored_runbook_with_a_reserved_alias_fails_its_run_before_training(tmp_path: Path) -> None:
    trained = tmp_path / "trained"
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        # stored before its alias was checked: the document still loads (a server starts with it)
        pipeline.set_config("runbooks", [{**_retrain("latest", python(f"open({str(trained)!r}, 'w').write('x')")),
                                          "trigger": {}}])
        gate = RegistryGate(runtime)
        pipeline.runbooks.attach(gate)
        incident_id = drift_incident(pipeline)
        run_queued(pipeline, gate)
        (done,) = pipeline.runbooks.runs.list(incident_id=incident_id)
        timeline = [e["text"] for e in pipeline.stores.incidents.timeline(incident_id) if e["kind"] == "runbook"]
    finally:
        runtime.close()
    assert done["state"] == "failed", done
    assert "alias 'latest' is reserved" in done["error"] and "nothing was trained" in done["error"], done
    assert not trained.exists()  # the training program never ran
    assert any("alias 'latest' is reserved" in t for t in timeline), timeline
