"""Runbook documents (the ``runbooks`` pipeline setting) parsed into ``Runbook`` objects.

A runbook names an action and, optionally, the incident events that start it::

    {"name": "restart-checkout",
     "description": "restart the pods",
     "trigger": {"events": ["opened", "reopened"], "matchers": ["service=\\"checkout\\""],
                 "min_severity": "error"},
     "action": {"type": "command", "argv": ["/usr/local/bin/restart", "checkout"], "timeout_s": 60,
                "env": {"KUBECONFIG": "/etc/kube"}, "cwd": "/srv", "retries": 2, "retry_delay_s": 15}}

    {"name": "retrain-churn",
     "trigger": {"matchers": ["model=\\"churn\\""]},
     "action": {"type": "retrain", "argv": ["python", "train.py"], "timeout_s": 1800,
                "model": "churn", "alias": "champion", "data": "/data/holdout.csv",
                "policy": {"target": "label", "rules": ["accuracy >= champion - 0.01"]}}}

A retrain's ``data`` and ``policy`` (a file path) are read by the server, relative to ``cwd`` when it is set.

A ``command`` that fails (non-zero exit, timeout, missing program) runs again up to ``retries`` times
(default 0, at most 10), waiting ``retry_delay_s`` (default 10) and twice as long before each next
attempt (at most an hour). A ``retrain`` runs once: its candidate is validated once.

Without ``trigger`` a runbook runs only when someone asks for it. Trigger routing is the notification
targets' (``notifications.routes``): the events (default ``opened``, ``reopened``), label matchers
(``service`` and ``severity`` match like labels) and a minimum severity.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.correlation.silences import Matcher, parse_matchers
from opsloop.aiops.incidents.notifications import EVENTS, routes
from opsloop.core.naming import named_once
from opsloop.core.signals import Severity
from opsloop.errors import InvalidInputError

__all__ = ["ACTIONS", "Action", "Retrain", "Runbook", "Trigger", "parse_runbooks"]

ACTIONS = ("command", "retrain")
MAX_TIMEOUT_S = 7 * 86400.0
MAX_RETRIES = 10
MAX_RETRY_DELAY_S = 3600.0
_SEVERITIES = tuple(s.name.lower() for s in Severity)
_POLICY_KEYS = {"target", "task", "positive_label", "sensitive", "min_group_size", "rules"}
_ACTION_KEYS = {"type", "argv", "timeout_s", "env", "cwd", "model", "alias", "data", "policy", "retries",
                "retry_delay_s"}


def _bad(runbook: str, message: str, field_name: str) -> InvalidInputError:
    return InvalidInputError(f"runbook {runbook!r}: {message}", field=field_name)


@dataclass(frozen=True)
class Trigger:
    """Which incident changes start a runbook."""

    events: tuple[str, ...] = ("opened", "reopened")
    matchers: list[Matcher] = field(default_factory=list)
    min_severity: Severity = Severity.INFO

    @classmethod
    def from_dict(cls, runbook: str, doc: Any) -> Trigger:
        if not isinstance(doc, Mapping):
            raise _bad(runbook, "'trigger' must be an object", "trigger")
        events = doc.get("events") or ["opened", "reopened"]
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise _bad(runbook, f"trigger events must be among {', '.join(EVENTS)}", "events")
        matchers = doc.get("matchers") or []
        if not isinstance(matchers, list):
            raise _bad(runbook, "trigger matchers must be a list", "matchers")
        severity = doc.get("min_severity", "info")
        if str(severity).lower() not in _SEVERITIES:
            raise _bad(runbook, f"min_severity must be one of {', '.join(_SEVERITIES)}", "min_severity")
        return cls(tuple(events), parse_matchers(matchers), Severity.parse(str(severity).lower()))

    def wants(self, event: str, incident: Mapping[str, Any]) -> bool:
        return routes(self.matchers, self.min_severity, self.events, event, incident)

    def to_dict(self) -> dict[str, Any]:
        return {"events": list(self.events), "matchers": [str(m) for m in self.matchers],
                "min_severity": self.min_severity.name.lower()}


@dataclass(frozen=True)
class Retrain:
    """What a ``retrain`` action validates and promotes after the training command."""

    model: str
    data: str
    alias: str = "champion"
    policy: dict[str, Any] | str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "alias": self.alias, "data": self.data, "policy": self.policy}


@dataclass(frozen=True)
class Action:
    """A program to run (argv, no shell), and for ``retrain`` the model gate to pass afterwards."""

    type: str
    argv: tuple[str, ...]
    timeout_s: float = 300.0
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    retrain: Retrain | None = None
    retries: int = 0
    retry_delay_s: float = 10.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, …): ``retry_delay_s``, doubling, at most an hour."""
        return min(MAX_RETRY_DELAY_S, self.retry_delay_s * 2 ** (attempt - 2))

    @property
    def budget_s(self) -> float:
        """The longest the action may take: every attempt to its timeout, and the waits between."""
        attempts = self.retries + 1
        return self.timeout_s * attempts + sum(self.delay_before(a) for a in range(2, attempts + 1))

    @classmethod
    def from_dict(cls, runbook: str, doc: Any) -> Action:
        if not isinstance(doc, Mapping):
            raise _bad(runbook, "'action' must be an object", "action")
        unknown = sorted(set(doc) - _ACTION_KEYS)
        if unknown:
            raise _bad(runbook, f"unknown action keys {unknown}", unknown[0])
        kind = doc.get("type")
        if kind not in ACTIONS:
            raise _bad(runbook, f"action type must be one of {', '.join(ACTIONS)}", "type")
        argv = doc.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise _bad(runbook, "'argv' must be a non-empty list of strings (the program and its arguments)", "argv")
        timeout = doc.get("timeout_s", 300)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
            raise _bad(runbook, f"'timeout_s' must be a number of seconds in (0, {MAX_TIMEOUT_S:g}]", "timeout_s")
        env = doc.get("env") or {}
        if not isinstance(env, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise _bad(runbook, "'env' must map names to strings", "env")
        cwd = doc.get("cwd")
        if cwd is not None and (not isinstance(cwd, str) or not cwd):
            raise _bad(runbook, "'cwd' must be a folder path", "cwd")
        retrain = _retrain(runbook, doc) if kind == "retrain" else None
        retries, delay = _retries(runbook, doc, kind)
        return cls(kind, tuple(argv), float(timeout), dict(env), cwd, retrain, retries, delay)

    def to_dict(self, secrets: bool = False) -> dict[str, Any]:
        """The document; ``env`` values show as ``***`` unless ``secrets``."""
        env = dict(self.env) if secrets else {k: "***" for k in self.env}
        out: dict[str, Any] = {"type": self.type, "argv": list(self.argv), "timeout_s": self.timeout_s,
                               "env": env, "cwd": self.cwd}
        if self.retrain is not None:
            out.update(self.retrain.to_dict())
        if self.retries:
            out.update(retries=self.retries, retry_delay_s=self.retry_delay_s)
        return out


def _retries(runbook: str, doc: Mapping[str, Any], kind: str) -> tuple[int, float]:
    retries, delay = doc.get("retries", 0), doc.get("retry_delay_s", 10.0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise _bad(runbook, f"'retries' must be a whole number from 0 to {MAX_RETRIES}", "retries")
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_RETRY_DELAY_S:
        raise _bad(runbook, f"'retry_delay_s' must be a number of seconds in [0, {MAX_RETRY_DELAY_S:g}]",
                   "retry_delay_s")
    if retries and kind != "command":
        raise _bad(runbook, "'retries' applies to command actions (a retrain's candidate is validated once)",
                   "retries")
    return retries, float(delay)


def _check_policy_shape(runbook: str, policy: Mapping[str, Any]) -> None:
    """The keys and shapes of an inline validation policy (those of ``opsloop models validate``'s file), so
    a misspelt key is a 400 now rather than a failed run after the training; the gate reads the rules."""
    unknown = sorted(set(policy) - _POLICY_KEYS)
    if unknown:
        raise _bad(runbook, f"unknown policy keys {unknown}; a policy has {sorted(_POLICY_KEYS)}",
                   f"policy.{unknown[0]}")
    rules = policy.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise _bad(runbook, "policy 'rules' must be a list of rule strings ('accuracy >= 0.8')", "policy.rules")
    if policy.get("task") not in (None, "classification", "regression"):
        raise _bad(runbook, "policy 'task' must be 'classification' or 'regression'", "policy.task")


def _retrain(runbook: str, doc: Mapping[str, Any]) -> Retrain:
    model, data, alias = doc.get("model"), doc.get("data"), doc.get("alias", "champion")
    if not isinstance(model, str) or not model.strip():
        raise _bad(runbook, "a retrain action needs 'model' (the registered model it retrains)", "model")
    if not isinstance(data, str) or not data.strip():
        raise _bad(runbook, "a retrain action needs 'data' (labelled evaluation data, CSV or Parquet)", "data")
    if not isinstance(alias, str) or not alias.strip():
        raise _bad(runbook, "'alias' must be a non-empty string", "alias")
    policy = doc.get("policy")
    if policy is not None and not isinstance(policy, Mapping | str):
        raise _bad(runbook, "'policy' must be a policy object or the path of a policy file", "policy")
    if isinstance(policy, Mapping):
        _check_policy_shape(runbook, policy)
    cwd = doc.get("cwd")
    return Retrain(model.strip(), _in(cwd, data), alias.strip(),
                   dict(policy) if isinstance(policy, Mapping) else policy and _in(cwd, policy))


def _in(cwd: str | None, path: str) -> str:
    """``path`` as the program in ``cwd`` sees it: a relative path under ``cwd`` (made absolute, so it
    reads the same however often the runbook is parsed again); as given without ``cwd``."""
    return os.path.abspath(os.path.join(cwd, path)) if cwd and not os.path.isabs(path) else path


@dataclass(frozen=True)
class Runbook:
    name: str
    action: Action
    trigger: Trigger | None = None
    description: str = ""

    @property
    def manual(self) -> bool:
        """Runs only when asked for (no trigger)."""
        return self.trigger is None

    @classmethod
    def from_dict(cls, doc: Any) -> Runbook:
        if not isinstance(doc, Mapping):
            raise InvalidInputError("a runbook must be an object", field="runbooks")
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or "/" in name:
            raise InvalidInputError("a runbook needs a 'name' (at most 200 characters, no '/')", field="name")
        name = name.strip()
        unknown = sorted(set(doc) - {"name", "description", "trigger", "action", "manual"})
        if unknown:
            raise _bad(name, f"unknown keys {unknown}", unknown[0])
        if "action" not in doc:
            raise _bad(name, "'action' is required", "action")
        trigger = Trigger.from_dict(name, doc["trigger"]) if doc.get("trigger") is not None else None
        return cls(name, Action.from_dict(name, doc["action"]), trigger, str(doc.get("description", ""))[:2000])

    def to_dict(self, secrets: bool = False) -> dict[str, Any]:
        """The document (``from_dict`` reads it back); ``env`` values masked unless ``secrets``."""
        return {"name": self.name, "description": self.description, "manual": self.manual,
                "trigger": self.trigger.to_dict() if self.trigger else None,
                "action": self.action.to_dict(secrets)}


def parse_runbooks(docs: Sequence[Any]) -> list[Runbook]:
    """Parse the ``runbooks`` setting.

    Raises:
        InvalidInputError: a document is not a runbook (``field`` names the culprit), or names repeat.
    """
    runbooks = [Runbook.from_dict(d) for d in docs]
    named_once("runbooks", runbooks, "runbook")
    return runbooks
