"""A retrain's validation policy is read before any training: when the runbook is configured, when a
run is asked for and when the run starts. A policy the gate cannot apply (a missing file, bad YAML, a
rule it cannot read, a misspelt metric) used to be found only after the training had run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents
from tests.aiops.runbooks._helpers import configure, drift_incident, http, python, run_queued, runs

from opsloop.aiops.pipeline import Pipeline
from opsloop.cli.incidents import incidents as incidents_cli
from opsloop.runtime import build_runtime
from opsloop.server.aiops.runbooks import RegistryGate
from opsloop.settings import load_settings


def _retrain(policy: Any, argv: list[str] | None = None) -> dict[str, Any]:
    return {"name": "retrain", "action": {"type": "retrain", "argv": argv or ["python", "train.py"], "model": "m",
                                          "data": "holdout.csv", "policy": policy}}


def test_a_policy_the_gate_cannot_read_is_refused_when_the_runbook_is_configured(client, tmp_path: Path) -> None:  # noqa: ANN001
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("rules: [accuracy >= 0.8\n")
    bad_rule = tmp_path / "rule.yaml"
    bad_rule.write_text("target: y\nrules:\n  - accurcy >= 0.8\n")
    for policy, field, said in [
        ({"target": "y", "rules": ["accuracy >== 0.8"]}, "policy.rules", "cannot read rule 'accuracy >== 0.8'"),
        ({"target": "y", "rules": ["accurcy >= 0.8"]}, "policy.rules", "unknown metric 'accurcy'"),
        ({"target": "y", "rules": ["gap(aucc, g) <= 0.1"]}, "policy.rules", "unknown metric 'aucc'"),
        ({"target": "y", "min_group_size": 0}, "policy.min_group_size", "min_group_size"),
        ({"target": "y", "positive_label": [1]}, "policy.positive_label", "positive_label"),
        ({"target": "y", "rules": ["gap(tpr) <= 0.1"]}, "policy.sensitive", "needs a column"),
        ({"target": "y", "task": "classification", "rules": ["rmse <= 1"]}, "policy.rules", "regression metric"),
        (str(tmp_path / "gone.yaml"), "policy", f"policy file {tmp_path / 'gone.yaml'} does not exist"),
        (str(bad_yaml), "policy", "is not valid YAML"),
        (str(bad_rule), "policy.rules", "unknown metric 'accurcy'"),
    ]:
        r = client.put(API + "/aiops/config/runbooks", json=[_retrain(policy)])
        assert r.status_code == 400, (policy, r.text)
        body = r.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["field"] == field, (policy, body)
        assert said in body["message"] and "runbook 'retrain'" in body["message"], (policy, body)
    assert client.get(API + "/runbooks").json()["runbooks"] == []  # none of them was stored

    good = tmp_path / "policy.yaml"
    good.write_text("target: y\nrules:\n  - accuracy >= champion - 0.01\n")
    configure(client, [_retrain(str(good)), {**_retrain({"target": "y", "rules": ["auc >= 0.7"]}), "name": "inline"}])


def test_a_run_asked_for_after_its_policy_file_vanished_is_refused_naming_the_file(
        opsloop_server, tmp_path: Path) -> None:  # noqa: ANN001
    server = opsloop_server()
    c = http(server.url)
    policy = tmp_path / "policy.yaml"
    policy.write_text("target: y\nrules:\n  - accuracy >= 0.8\n")
    configure(c, [_retrain(str(policy))])
    r = c.post(API + "/ingest/alertmanager", json=am_payload([alert("Drift", "churn-api")]))
    assert r.status_code == 200, r.text
    incident_id = next(i["id"] for i in incidents(c) if i["service"] == "churn-api")
    policy.unlink()

    r = c.post(f"{API}/incidents/{incident_id}/runbooks/retrain", json={"actor": "alice"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "policy" and f"policy file {policy} does not exist" in r.json()["message"]
    result = CliRunner().invoke(incidents_cli, ["--url", server.url, "runbook", str(incident_id), "retrain", "--wait"])
    assert result.exit_code == 1, result.output
    assert f"policy file {policy} does not exist" in result.output
    assert runs(c) == []  # nothing was queued, so nothing was trained


def test_a_policy_file_gone_when_the_run_starts_fails_the_run_before_training(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("target: label\nrules:\n  - accuracy >= 0.8\n")
    trained = tmp_path / "trained"
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.load()
        gate = RegistryGate(runtime)
        pipeline.runbooks.attach(gate)
        pipeline.set_config("runbooks", [_retrain(str(policy), python(f"open({str(trained)!r}, 'w').write('x')"))])
        incident_id = drift_incident(pipeline)
        run = pipeline.runbooks.request(incident_id, "retrain", "alice")  # queued while the file was there
        policy.unlink()
        run_queued(pipeline, gate)
        done = pipeline.runbooks.runs.get(run["id"])
        timeline = [e["text"] for e in pipeline.stores.incidents.timeline(incident_id) if e["kind"] == "runbook"]
    finally:
        runtime.close()
    assert done["state"] == "failed", done
    assert f"policy file {policy} does not exist" in done["error"] and "nothing was trained" in done["error"]
    assert done["exit_code"] is None and done["candidate_version"] is None
    assert not trained.exists()  # the training program never ran
    assert any("policy file" in t and "nothing was trained" in t for t in timeline), timeline


def test_relative_data_and_policy_paths_are_read_in_the_runbooks_cwd(client, tmp_path: Path) -> None:  # noqa: ANN001
    """The program runs in ``cwd``; its ``data`` and ``policy`` were read from the server's own working
    directory, so ``"policy": "policy.yaml"`` next to ``train.py`` was not found (or another one was)."""
    (tmp_path / "policy.yaml").write_text("target: y\nrules:\n  - accuracy >= 0.8\n")
    doc = _retrain("policy.yaml")
    doc["action"].update(cwd=str(tmp_path), data="holdout.csv")
    configure(client, [doc])
    (action,) = [rb["action"] for rb in client.get(API + "/runbooks").json()["runbooks"]]
    assert action["policy"] == str(tmp_path / "policy.yaml") and action["data"] == str(tmp_path / "holdout.csv")

    doc["action"].pop("cwd")  # without cwd: the server's working directory, where there is no policy.yaml
    r = client.put(API + "/aiops/config/runbooks", json=[doc])
    assert r.status_code == 400 and r.json()["field"] == "policy", r.text
