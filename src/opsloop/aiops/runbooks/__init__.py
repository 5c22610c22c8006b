"""Remediation runbooks: programs that incidents start, and the retraining loop.

A runbook (configured under the ``runbooks`` pipeline setting, see ``config``) runs a ``command`` or a
``retrain`` — the user's training program, then the validation gate, then an audited promotion only
when the gate passed. Runs are requested durably (``catalog``), executed in the background
(``runner``, ``process``) and move through the states of ``states``.
"""

from opsloop.aiops.runbooks.catalog import MANUAL, RunbookCatalog
from opsloop.aiops.runbooks.config import ACTIONS, Action, Retrain, Runbook, Trigger, parse_runbooks
from opsloop.aiops.runbooks.gate import ModelGate
from opsloop.aiops.runbooks.process import ProcessResult, run_process
from opsloop.aiops.runbooks.runner import RunbookRunner
from opsloop.aiops.runbooks.states import FAILED, FINAL, GATE_FAILED, QUEUED, RUNNING, STATES, SUCCEEDED

__all__ = [
    "ACTIONS",
    "FAILED",
    "FINAL",
    "GATE_FAILED",
    "MANUAL",
    "QUEUED",
    "RUNNING",
    "STATES",
    "SUCCEEDED",
    "Action",
    "ModelGate",
    "ProcessResult",
    "Retrain",
    "Runbook",
    "RunbookCatalog",
    "RunbookRunner",
    "Trigger",
    "parse_runbooks",
    "run_process",
]
