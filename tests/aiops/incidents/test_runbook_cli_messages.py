"""``opsloop incidents runbook --wait`` that gives up says how to follow the run; ``opsloop incidents runs``
says why a gate_failed run's candidate was refused (its error is empty: nothing went wrong)."""

from __future__ import annotations

import sys

import httpx
from tests.aiops.incidents.test_incident_cli import run
from tests.aiops.ingestion._helpers import API, alert, am_payload

from opsloop.cli.incidents import _run_row


def test_a_wait_that_times_out_says_how_to_follow_the_run(server) -> None:  # noqa: ANN001
    httpx.put(server.url + API + "/aiops/config/runbooks", json=[
        {"name": "slow fix", "action": {"type": "command", "argv": [sys.executable, "-c", "import time; time.sleep(30)"],
                                        "timeout_s": 60}}]).raise_for_status()
    httpx.post(server.url + API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")])).raise_for_status()
    [inc] = httpx.get(server.url + API + "/incidents").json()["incidents"]
    out = run(server.url, "runbook", str(inc["id"]), "slow fix", "--wait", "--timeout", "1")
    assert out.returncode == 1, out
    assert f"opsloop incidents runs {inc['id']} --runbook 'slow fix'" in out.stderr, out.stderr
    listed = run(server.url, "runs", str(inc["id"]), "--runbook", "slow fix")  # what it says to run works
    assert listed.returncode == 0 and "slow fix" in listed.stdout, listed


def test_a_gate_failed_run_lists_the_rules_its_candidate_failed() -> None:
    rules = [{"rule": "auc >= champion - 0.01", "status": "failed"}, {"rule": "accuracy >= 0.8", "status": "passed"},
             {"rule": "f1 >= 0.5", "status": "error"}]
    r = {"id": 3, "runbook": "retrain", "incident_id": 1, "trigger": "manual", "state": "gate_failed",
         "exit_code": 0, "candidate_version": "4", "created_at": 1.0, "error": "",
         "validation": {"passed": False, "rules": rules}}
    assert _run_row(r)["error"] == "gate failed: auc >= champion - 0.01; f1 >= 0.5 (error)"
    assert _run_row({**r, "state": "failed", "error": "exited with status 2"})["error"] == "exited with status 2"
