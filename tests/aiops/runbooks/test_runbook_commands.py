"""``command`` runbooks: a real program started by an incident, with the incident on stdin and in its
environment; a timeout kills it, a non-zero exit and a missing executable fail the run; each outcome
lands on the run, the incident's timeline and the audit trail."""

from __future__ import annotations

import json
from pathlib import Path

from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents
from tests.aiops.runbooks._helpers import configure, python, runs, wait_runs

AM = API + "/ingest/alertmanager"

ECHO = ("import json, os, sys; doc = json.load(sys.stdin); "
        "print('incident', os.environ['OPSLOOP_INCIDENT_ID'], doc['incident']['id'], doc['event']); "
        "print('runbook', os.environ['OPSLOOP_RUNBOOK'], os.environ['GREETING']); "
        "print('url', os.environ['OPSLOOP_URL'])")


def _open(client, service: str = "checkout", name: str = "HighLatency") -> int:  # noqa: ANN001
    r = client.post(AM, json=am_payload([alert(name, service)]))
    assert r.status_code == 200, r.text
    return next(i["id"] for i in incidents(client) if i["service"] == service)


def test_command_runbook_runs_a_real_program_when_an_incident_opens(client, tmp_path: Path) -> None:  # noqa: ANN001
    marker = tmp_path / "ran.json"
    configure(client, [
        {"name": "echo", "trigger": {"matchers": ['service="checkout"'], "min_severity": "error"},
         "action": {"type": "command", "argv": python(ECHO), "env": {"GREETING": "hello"}, "timeout_s": 30}},
        {"name": "write", "trigger": {"events": ["opened"]},
         "action": {"type": "command", "argv": python(
             f"import sys; open({str(marker)!r}, 'w').write(sys.stdin.read())")}},
        {"name": "other-service", "trigger": {"matchers": ['service="payments"']},
         "action": {"type": "command", "argv": python("print('no')")}},
        {"name": "by-hand", "action": {"type": "command", "argv": python("print('manual')")}},
    ])
    incident_id = _open(client)
    done = {r["runbook"]: r for r in wait_runs(client, 2, incident_id=incident_id)}
    assert set(done) == {"echo", "write"}  # the payments runbook and the manual one did not run
    echo = done["echo"]
    assert echo["state"] == "succeeded" and echo["exit_code"] == 0 and echo["trigger"] == "opened"
    assert f"incident {incident_id} {incident_id} opened" in echo["output"]
    assert "runbook echo hello" in echo["output"]
    assert echo["spec"]["action"]["env"] == {"GREETING": "***"}  # secrets stay out of the API
    assert json.loads(marker.read_text())["incident"]["service"] == "checkout"

    detail = client.get(f"{API}/incidents/{incident_id}").json()
    texts = [e["text"] for e in detail["timeline"] if e["kind"] == "runbook"]
    assert "runbook 'echo' queued (on opened)" in texts
    assert "runbook 'echo' succeeded (exit 0)" in texts
    one = client.get(f"{API}/runbooks/runs/{echo['id']}").json()["run"]
    assert one["state"] == "succeeded" and one["finished_at"] >= one["started_at"] >= one["created_at"]
    listed = client.get(API + "/runbooks").json()["runbooks"]
    assert {r["name"]: r["manual"] for r in listed} == {"echo": False, "write": False, "other-service": False,
                                                         "by-hand": True}


def test_timeout_nonzero_exit_and_missing_executable_fail_the_run(client, tmp_path: Path) -> None:  # noqa: ANN001
    configure(client, [
        {"name": "slow", "trigger": {}, "action": {"type": "command", "timeout_s": 0.5, "argv": python(
            "import time; print('started', flush=True); time.sleep(60)")}},
        {"name": "crash", "trigger": {}, "action": {"type": "command", "argv": python(
            "import sys; print('boom'); sys.exit(3)")}},
        {"name": "missing", "trigger": {}, "action": {"type": "command",
                                                       "argv": [str(tmp_path / "no-such-program")]}},
    ])
    incident_id = _open(client)
    done = {r["runbook"]: r for r in wait_runs(client, 3, incident_id=incident_id)}
    assert done["slow"]["state"] == "failed" and "timed out after 0.5s" in done["slow"]["error"]
    assert "started" in done["slow"]["output"]
    assert done["crash"]["state"] == "failed" and done["crash"]["exit_code"] == 3
    assert "boom" in done["crash"]["output"] and "exited with status 3" in done["crash"]["error"]
    assert done["missing"]["state"] == "failed" and done["missing"]["exit_code"] is None
    assert "not found" in done["missing"]["error"]
    trail = client.app.state.aiops.stores.incidents.audit_trail("runbook_run")
    assert {(a["action"], a["data"]["runbook"]) for a in trail} >= {("queue", "slow"), ("failed", "slow"),
                                                                    ("failed", "crash"), ("failed", "missing")}

def test_manual_run_and_bad_input_name_the_field(client) -> None:  # noqa: ANN001
    configure(client, [{"name": "by-hand", "action": {"type": "command", "argv": python("print('manual run')")}}])
    incident_id = _open(client)
    assert runs(client, incident_id=incident_id) == []  # manual only: nothing ran on open
    r = client.post(f"{API}/incidents/{incident_id}/runbooks/by-hand", json={"actor": "alice"})
    assert r.status_code == 202, r.text
    assert r.json()["run"]["state"] == "queued" and r.json()["run"]["actor"] == "alice"
    (run,) = wait_runs(client, 1, incident_id=incident_id)
    assert run["state"] == "succeeded" and "manual run" in run["output"] and run["trigger"] == "manual"

    r = client.post(f"{API}/incidents/{incident_id}/runbooks/nope")
    assert r.status_code == 404 and r.json()["field"] == "name"
    r = client.post(f"{API}/incidents/999999/runbooks/by-hand")
    assert r.status_code == 404 and r.json()["field"] == "id"
    for bad, field in [
        ([{"name": "x", "action": {"type": "shell", "argv": ["ls"]}}], "type"),
        ([{"name": "x", "action": {"type": "command", "argv": "ls -l"}}], "argv"),
        ([{"name": "x", "action": {"type": "command", "argv": ["ls"], "timeout_s": -1}}], "timeout_s"),
        ([{"name": "x", "action": {"type": "retrain", "argv": ["python", "t.py"], "data": "d.csv"}}], "model"),
        ([{"name": "x", "action": {"type": "retrain", "argv": ["python", "t.py"], "model": "m"}}], "data"),
        ([{"name": "x", "trigger": {"events": ["exploded"]}, "action": {"type": "command", "argv": ["ls"]}}],
         "events"),
        ([{"action": {"type": "command", "argv": ["ls"]}}], "name"),
        ([{"name": "x", "trigger": {"min_severity": "loud"}, "action": {"type": "command", "argv": ["ls"]}}],
         "min_severity"),
        ([{"name": "x", "trigger": {"matchers": ["service=~\"(\""]}, "action": {"type": "command", "argv": ["ls"]}}],
         "matchers"),
        ([{"name": "x", "action": {"type": "command", "argv": ["ls"], "shell": True}}], "shell"),
        ([{"name": "x", "action": {"type": "command", "argv": ["ls"]}},
          {"name": "x", "action": {"type": "command", "argv": ["ls"]}}], "name"),
    ]:
        r = client.put(API + "/aiops/config/runbooks", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["field"] == field, (bad, r.json())
    assert client.get(API + "/runbooks/runs/999999").status_code == 404


def test_a_failing_command_runs_again_up_to_its_retries(client, tmp_path: Path) -> None:  # noqa: ANN001
    tries = tmp_path / "tries"
    # fails twice, then succeeds: each attempt appends a line
    flaky = python(f"import sys; p = {str(tries)!r}; open(p, 'a').write('x\\n'); "
                   "n = len(open(p).read().split()); print('attempt', n); sys.exit(0 if n >= 3 else 4)")
    configure(client, [
        {"name": "flaky", "trigger": {}, "action": {"type": "command", "argv": flaky, "retries": 3,
                                                     "retry_delay_s": 0.05}},
        {"name": "hopeless", "trigger": {}, "action": {"type": "command", "retries": 1, "retry_delay_s": 0,
                                                        "argv": python("import sys; sys.exit(5)")}},
    ])
    incident_id = _open(client)
    done = {r["runbook"]: r for r in wait_runs(client, 2, incident_id=incident_id)}
    assert done["flaky"]["state"] == "succeeded" and "attempt 3" in done["flaky"]["output"]
    assert tries.read_text().split() == ["x", "x", "x"]  # no fourth attempt after the success
    assert done["flaky"]["spec"]["action"]["retries"] == 3
    assert done["hopeless"]["state"] == "failed" and done["hopeless"]["exit_code"] == 5
    texts = [e["text"] for e in client.get(f"{API}/incidents/{incident_id}").json()["timeline"]
             if e["kind"] == "runbook"]
    assert "runbook 'flaky': attempt 1 of 4 failed (exited with status 4); again in 0.05s" in texts
    assert "runbook 'flaky': attempt 2 of 4 failed (exited with status 4); again in 0.1s" in texts
    assert "runbook 'flaky' succeeded (exit 0, attempt 3 of 4)" in texts
    assert "runbook 'hopeless' failed (attempt 2 of 2): exited with status 5" in texts


def test_retries_are_checked(client) -> None:  # noqa: ANN001
    cases = [({"retries": -1}, "retries"), ({"retries": 11}, "retries"), ({"retries": True}, "retries"),
             ({"retries": 1.5}, "retries"), ({"retry_delay_s": -1}, "retry_delay_s"),
             ({"retry_delay_s": "10"}, "retry_delay_s")]
    for extra, field in cases:
        r = client.put(API + "/aiops/config/runbooks", json=[
            {"name": "x", "action": {"type": "command", "argv": ["true"], **extra}}])
        assert r.status_code == 400 and r.json()["field"] == field, (extra, r.text)
    r = client.put(API + "/aiops/config/runbooks", json=[
        {"name": "r", "action": {"type": "retrain", "argv": ["true"], "model": "m", "data": "d.csv", "retries": 2}}])
    assert r.status_code == 400 and r.json()["field"] == "retries" and "validated once" in r.json()["message"]


def test_a_retrain_policy_with_unknown_keys_is_refused_before_any_training(client) -> None:  # noqa: ANN001
    """A misspelt policy key was stored and only failed the run after its training had run."""
    retrain = {"type": "retrain", "argv": ["python", "t.py"], "model": "m", "data": "d.csv"}
    for policy, field in [({"target": "y", "rulez": ["accuracy >= 0.8"]}, "policy.rulez"),
                          ({"target": "y", "rules": "accuracy >= 0.8"}, "policy.rules"),
                          ({"target": "y", "rules": [["accuracy >= 0.8"]]}, "policy.rules"),
                          ({"target": "y", "task": "ranking"}, "policy.task")]:
        r = client.put(API + "/aiops/config/runbooks", json=[{"name": "x", "action": {**retrain, "policy": policy}}])
        assert r.status_code == 400, (policy, r.text)
        assert r.json()["field"] == field, (policy, r.json())
    good = {"target": "y", "sensitive": "g", "rules": ["accuracy >= 0.8", "gap(accuracy) <= 0.05"]}
    r = client.put(API + "/aiops/config/runbooks", json=[{"name": "x", "action": {**retrain, "policy": good}}])
    assert r.status_code == 200, r.text
