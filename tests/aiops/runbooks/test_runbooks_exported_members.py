"""The public names of ``opsloop.aiops.runbooks`` are chosen deliberately: changing them is a visible diff."""

from __future__ import annotations

import opsloop.aiops.runbooks as runbooks


def test_exported_members() -> None:
    assert sorted(runbooks.__all__) == sorted([
        "ACTIONS", "FAILED", "FINAL", "GATE_FAILED", "MANUAL", "QUEUED", "RUNNING", "STATES", "SUCCEEDED", "Action",
        "ModelGate", "ProcessResult", "Retrain", "Runbook", "RunbookCatalog", "RunbookRunner", "Trigger",
        "parse_runbooks", "run_process"])
    assert all(hasattr(runbooks, name) for name in runbooks.__all__)


def test_a_runbook_document_reads_back_from_its_dict() -> None:
    (rb,) = runbooks.parse_runbooks([{"name": "r", "trigger": {"matchers": ['model="churn"']}, "action": {
        "type": "retrain", "argv": ["python", "t.py"], "model": "churn", "data": "d.csv", "env": {"TOKEN": "s"}}}])
    assert runbooks.Runbook.from_dict(rb.to_dict(secrets=True)) == rb
    assert rb.to_dict()["action"]["env"] == {"TOKEN": "***"} and rb.to_dict()["manual"] is False
    assert rb.trigger is not None and rb.trigger.wants("opened", {"severity": 2, "labels": {"model": "churn"}})
    assert not rb.trigger.wants("resolved", {"severity": 2, "labels": {"model": "churn"}})
    assert not rb.trigger.wants("opened", {"severity": 2, "labels": {"model": "fraud"}})
