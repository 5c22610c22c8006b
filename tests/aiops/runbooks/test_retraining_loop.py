"""The loop, end to end against a real ``opsloop server``: a drift signal about a model opens an
incident, a ``retrain`` runbook runs a real training script (the mlflow client, registering a new
version on the server), the candidate is validated against ``@champion`` and promoted only when it
passes its gate — audited, with the incident in the reason. A bad candidate leaves the alias alone."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from click.testing import CliRunner
from tests._models import register_sklearn_champion
from tests.aiops.ingestion._helpers import API
from tests.aiops.runbooks._helpers import wait_runs

from opsloop.cli.incidents import incidents as incidents_cli

TRAIN = '''
import os, sys
import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(0)
x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
y = (x["a"] + x["b"] > 0).astype(int)
if sys.argv[1] == "bad":
    y = pd.Series(rng.permutation(y.to_numpy()))  # shuffled labels: a model that learned nothing
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
with mlflow.start_run():
    info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model", input_example=x.head(2))
version = mlflow.register_model(info.model_uri, os.environ["OPSLOOP_MODEL_NAME"]).version
print("registered version", version, "for incident", os.environ["OPSLOOP_INCIDENT_ID"])
if sys.argv[1] == "raced":  # another team registers a version of the same model right after ours
    client = mlflow.MlflowClient()  # the client's own create_run: no context tags, as in another program
    other = client.create_run(mlflow.get_experiment_by_name("Default").experiment_id)
    client.create_model_version(os.environ["OPSLOOP_MODEL_NAME"], source=info.model_uri, run_id=other.info.run_id)
'''


def retrain_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """The holdout set the gate scores (``label`` = ``a + b > 0``) and the training script ``TRAIN``."""
    rng = np.random.default_rng(1)
    holdout = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    holdout["label"] = (holdout["a"] + holdout["b"] > 0).astype(int)
    data = tmp_path / "holdout.csv"
    holdout.to_csv(data, index=False)
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    return data, script


def _retrain(name: str, model: str, script: Path, data: Path, kind: str, trigger: dict | None) -> dict:
    doc = {"name": name, "action": {
        "type": "retrain", "argv": [sys.executable, str(script), kind], "timeout_s": 120, "model": model,
        "alias": "champion", "data": str(data),
        "policy": {"target": "label", "rules": ["accuracy >= champion - 0.05"]}}}
    if trigger is not None:
        doc["trigger"] = trigger
    return doc


def test_drift_incident_retrains_and_only_a_candidate_that_passes_its_gate_becomes_champion(
        opsloop_server, tmp_path: Path) -> None:  # noqa: ANN001
    server = opsloop_server()
    model = "churn-loop"
    assert register_sklearn_champion(server.url, model) == "1"
    data, script = retrain_inputs(tmp_path)

    c = httpx.Client(base_url=server.url, timeout=60.0)
    r = c.put(API + "/aiops/config/runbooks", json=[
        _retrain("retrain", model, script, data, "good", {"matchers": [f'model="{model}"'], "events": ["opened"]}),
        _retrain("retrain-shuffled", model, script, data, "bad", None),
        _retrain("retrain-raced", model, script, data, "raced", None),
    ])
    assert r.status_code == 200, r.text

    # Production monitoring reports drift of the served model: an incident opens and starts the retrain.
    r = c.post(API + "/events", json={"kind": "model_drift", "source": "opsloop-monitor", "service": "churn-api",
                                      "labels": {"model": model, "feature": "a"}, "severity": "warning",
                                      "text": f"feature a of {model} drifted", "values": {"psi": 0.4}})
    assert r.status_code == 200, r.text
    incident_id = r.json()["incidents_opened"][0]
    (good,) = wait_runs(c, 1, timeout=120, incident_id=incident_id)
    assert good["state"] == "succeeded", good
    assert good["runbook"] == "retrain" and good["candidate_version"] == "2"
    assert "registered version 2 for incident" in good["output"]
    assert good["validation"]["passed"] and good["validation"]["promoted"]
    assert good["validation"]["champion_version"] == "1"
    alias = c.get("/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": "champion"}).json()
    assert alias["model_version"]["version"] == "2"

    # An operator tries a retrain on shuffled labels (through the CLI): the gate stops it.
    result = CliRunner().invoke(incidents_cli, ["--url", server.url, "runbook", str(incident_id), "retrain-shuffled",
                                                "--wait", "--timeout", "120", "--actor", "alice"])
    assert result.exit_code == 1, result.output
    assert "gate_failed" in result.output
    assert "gate failed against version 2 (@champion):" in result.output  # and why, rule by rule
    assert "failed   accuracy >= champion - 0.05: candidate" in result.output
    bad = wait_runs(c, 2, timeout=10, incident_id=incident_id)[1]
    assert bad["state"] == "gate_failed" and bad["candidate_version"] == "3" and bad["actor"] == "alice"
    assert not bad["validation"]["passed"] and not bad["validation"]["promoted"]
    assert [x["status"] for x in bad["validation"]["rules"]] == ["failed"]
    alias = c.get("/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": "champion"}).json()
    assert alias["model_version"]["version"] == "2"  # stays with the last good candidate

    # The registry's audit: the move to 2 came from the runbook, gated, naming the incident; 3 never moved.
    promotions = c.get(f"{API}/models/{model}/promotions").json()["promotions"]
    assert [p["to_version"] for p in promotions] == ["1", "2"]
    assert promotions[1]["actor"] == "runbook:retrain" and promotions[1]["validation_id"] is not None
    assert f"incident #{incident_id}" in promotions[1]["reason"]
    validations = c.get(f"{API}/models/{model}/versions/3/validations").json()["validations"]
    assert [v["passed"] for v in validations] == [False]

    # The incident's timeline tells the story.
    texts = [e["text"] for e in c.get(f"{API}/incidents/{incident_id}").json()["timeline"] if e["kind"] == "runbook"]
    assert f"runbook 'retrain': {model} version 2 passed its gate; {model}@champion → version 2" in texts
    assert any(t.startswith(f"runbook 'retrain-shuffled': {model} version 3 failed its gate") and
               "stays at version 2" in t for t in texts)
    listed = CliRunner().invoke(incidents_cli, ["--url", server.url, "runs", str(incident_id)])
    assert listed.exit_code == 0 and "gate_failed" in listed.output and "succeeded" in listed.output

    # A version registered by someone else while a retrain runs is newer, but it is not the candidate:
    # the run's own version (its mlflow run carries the runbook run's tag) is validated and promoted.
    r = c.post(f"{API}/incidents/{incident_id}/runbooks/retrain-raced", json={"actor": "bob"})
    assert r.status_code == 202, r.text
    raced = wait_runs(c, 3, timeout=120, incident_id=incident_id)[2]
    assert raced["state"] == "succeeded", raced
    assert raced["candidate_version"] == "4"
    versions = {v["version"]: v for v in c.get("/api/2.0/mlflow/model-versions/search",
                                                 params={"filter": f"name='{model}'"}).json()["model_versions"]}
    assert set(versions) == {"1", "2", "3", "4", "5"} and versions["5"]["run_id"] != versions["4"]["run_id"]
    tags = c.get("/api/2.0/mlflow/runs/get", params={"run_id": versions["4"]["run_id"]}).json()["run"]["data"]["tags"]
    assert {"key": "opsloop.runbook_run_id", "value": str(raced["id"])} in tags
    alias = c.get("/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": "champion"}).json()
    assert alias["model_version"]["version"] == "4"
