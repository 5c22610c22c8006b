"""The states of a runbook run and the moves between them.

::

    queued ──claim──▶ running ──▶ succeeded | failed | gate_failed

``failed``: the program could not start, exited non-zero, timed out, or the run was interrupted (its
server stopped). ``gate_failed``: a retrain's candidate did not pass its validation gate, so the alias
stayed where it was. A run never leaves a final state; asking again starts a new run.
"""

from __future__ import annotations

__all__ = ["FAILED", "FINAL", "GATE_FAILED", "QUEUED", "RUNNING", "STATES", "SUCCEEDED"]

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
GATE_FAILED = "gate_failed"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, GATE_FAILED)
FINAL = (SUCCEEDED, FAILED, GATE_FAILED)
