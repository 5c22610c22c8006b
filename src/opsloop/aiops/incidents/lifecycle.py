"""The incident lifecycle: every allowed state change, in one table.

    triggered ──ack──▶ acknowledged ──resolve──▶ resolved
        │                   ▲  │                   │
        └──────resolve──────┼──┘◀──────reopen──────┘ (back to triggered)
                            └── unack (back to triggered)

``auto_resolve`` (every signal of the incident resolved) and ``auto_reopen`` (a new signal joins a
resolved incident) are the system's own transitions; ``merge`` closes an incident into another one.
Nothing else changes an incident's state: stores and APIs call ``transition`` and record what it
returns in the timeline and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsloop.errors import InvalidInputError, InvalidStateError

__all__ = ["ACTIONS", "NOTIFY", "STATES", "TIME_FIELD", "Transition", "transition"]

TRIGGERED, ACKNOWLEDGED, RESOLVED = "triggered", "acknowledged", "resolved"
STATES = (TRIGGERED, ACKNOWLEDGED, RESOLVED)

# (action, from state) -> to state
_RULES: dict[tuple[str, str], str] = {
    ("ack", TRIGGERED): ACKNOWLEDGED,
    ("unack", ACKNOWLEDGED): TRIGGERED,
    ("resolve", TRIGGERED): RESOLVED,
    ("resolve", ACKNOWLEDGED): RESOLVED,
    ("reopen", RESOLVED): TRIGGERED,
    ("auto_resolve", TRIGGERED): RESOLVED,
    ("auto_resolve", ACKNOWLEDGED): RESOLVED,
    ("auto_reopen", RESOLVED): TRIGGERED,
    ("merge", TRIGGERED): RESOLVED,
    ("merge", ACKNOWLEDGED): RESOLVED,
    ("merge", RESOLVED): RESOLVED,
}
ACTIONS = tuple(sorted({a for a, _ in _RULES}))

# Which timestamp a transition sets (and which it clears) on the incident.
TIME_FIELD = {ACKNOWLEDGED: "acknowledged_at", RESOLVED: "resolved_at"}

# The transitions worth telling people about (notification event names).
NOTIFY = {"ack": "acknowledged", "resolve": "resolved", "auto_resolve": "resolved", "reopen": "reopened",
          "auto_reopen": "reopened", "merge": "merged"}


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def event(self) -> str | None:
        return NOTIFY.get(self.action)

    def describe(self) -> str:
        return f"{self.before} → {self.after} ({self.action})"


def transition(state: str, action: str) -> Transition:
    """The transition ``action`` makes from ``state``; ``InvalidStateError`` when it is not allowed."""
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown incident action {action!r}", field="action")
    after = _RULES.get((action, state))
    if after is None:
        raise InvalidStateError(f"cannot {action.replace('_', ' ')} an incident that is {state}")
    return Transition(action, state, after)


def allowed(state: str) -> list[str]:
    """Actions allowed from ``state`` (for UIs)."""
    return sorted(a for (a, s) in _RULES if s == state and not a.startswith("auto_") and a != "merge")
