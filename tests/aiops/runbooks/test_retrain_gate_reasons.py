"""A candidate the gate refuses leaves the reason on its incident's timeline: each rule it did not pass
with what it measured, or why it could not be measured. The line named the rules alone, so a rule that
could not be measured (a fairness gap over too few groups) read as one the candidate had failed, and
how far below its bound the candidate was needed the run's JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from tests._models import register_sklearn_champion
from tests.aiops.ingestion._helpers import API
from tests.aiops.runbooks._helpers import wait_runs
from tests.aiops.runbooks.test_retraining_loop import TRAIN


def test_a_refused_candidate_leaves_each_rule_it_did_not_pass_and_why_on_the_timeline(
        opsloop_server, tmp_path: Path) -> None:  # noqa: ANN001
    server = opsloop_server()
    model = "churn-refused"
    assert register_sklearn_champion(server.url, model) == "1"
    rng = np.random.default_rng(1)
    holdout = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    holdout["label"] = (holdout["a"] + holdout["b"] > 0).astype(int)
    holdout["region"] = ["north"] * 297 + ["south"] * 3  # one group too small to measure a gap over
    holdout.to_csv(tmp_path / "holdout.csv", index=False)
    (tmp_path / "train.py").write_text(TRAIN)
    c = httpx.Client(base_url=server.url, timeout=60.0)
    r = c.put(API + "/aiops/config/runbooks", json=[{"name": "retrain", "action": {
        "type": "retrain", "argv": [sys.executable, "train.py", "bad"], "cwd": str(tmp_path), "timeout_s": 120,
        "model": model, "data": "holdout.csv",
        "policy": {"target": "label", "min_group_size": 30,
                   "rules": ["accuracy >= champion - 0.05", "gap(accuracy, region) <= 0.1", "accuracy >= 0"]}}}])
    assert r.status_code == 200, r.text
    r = c.post(API + "/events", json={"kind": "model_drift", "service": model, "labels": {"model": model},
                                      "severity": "warning", "text": f"{model} drifted"})
    incident_id = r.json()["incidents_opened"][0]
    r = c.post(f"{API}/incidents/{incident_id}/runbooks/retrain", json={"actor": "alice"})
    assert r.status_code == 202, r.text

    (run,) = wait_runs(c, 1, timeout=120, incident_id=incident_id)
    assert run["state"] == "gate_failed", run
    rules = {x["rule"]: x for x in run["validation"]["rules"]}
    accuracy, gap = rules["accuracy >= champion - 0.05"], rules["gap(accuracy, region) <= 0.1"]
    assert accuracy["status"] == "failed" and gap["status"] == "error" and rules["accuracy >= 0"]["status"] == "passed"
    [line] = [e["text"] for e in c.get(f"{API}/incidents/{incident_id}").json()["timeline"]
              if e["kind"] == "runbook" and e["data"].get("state") == "gate_failed"]
    assert f"version {run['candidate_version']} failed its gate (" in line, line
    assert f"accuracy >= champion - 0.05: {accuracy['candidate']:.4g} (bound {accuracy['bound']:.4g})" in line, line
    assert f"gap(accuracy, region) <= 0.1: error — {gap['note']}" in line, line
    assert "accuracy >= 0:" not in line  # a rule it passed is not a reason
    assert line.endswith(f"{model}@champion stays at version 1"), line
