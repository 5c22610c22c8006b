"""Incidents: lifecycle rules, similar past incidents, and notifications with retries and dead letters."""

from opsloop.aiops.incidents.lifecycle import ACTIONS, STATES, Transition, transition

__all__ = ["ACTIONS", "STATES", "Transition", "transition"]
