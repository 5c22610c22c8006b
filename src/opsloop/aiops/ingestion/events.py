"""The generic JSON events API (``POST /api/opsloop/v1/events``) for anything else: deploys, config
changes, model drift signals, custom alerts.

Body: one event object or ``{"events": [...]}``. An event::

    {"time": "2024-05-01T12:00:00Z" | 1714564800,   # optional, default: now
     "kind": "event" | "alert" | "model_drift" | …, # a SignalKind value, default "event"
     "source": "argo-cd",                           # default "events"
     "service": "checkout",                         # default: from labels
     "labels": {"type": "deploy", "version": "1.4.2"},
     "severity": "info" | "warning" | "error" | "critical",
     "text": "deployed checkout 1.4.2",
     "values": {"psi": 0.31},
     "status": "firing" | "resolved",
     "evidence": {...}}                             # any JSON

Kind ``event`` is context: it joins an open incident of its service (a deploy right before an outage
is evidence) but never opens one. Other kinds are alerts like any other. Unknown fields are ignored.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from opsloop.aiops.ingestion.normalise import Decoded, Limits, load_json, parse_time
from opsloop.core.signals import Signal, SignalKind
from opsloop.errors import InvalidInputError, LimitExceededError

__all__ = ["decode_events"]

_KINDS = {k.value for k in SignalKind}
MAX_EVIDENCE_BYTES = 65536


def decode_events(body: bytes, limits: Limits, now: float) -> Decoded:
    payload = load_json(body)
    if isinstance(payload, dict) and "events" in payload:
        events = payload["events"]
        if not isinstance(events, list):
            raise InvalidInputError("'events' must be a list", field="events")
    elif isinstance(payload, dict):
        events = [payload]
    elif isinstance(payload, list):
        events = payload
    else:
        raise InvalidInputError("expected an event object, a list, or {\"events\": [...]}", field="body")
    out = Decoded(items=len(events))
    for i, event in enumerate(events):
        try:
            out.signals.append(_event(event, limits, now))
        except InvalidInputError as exc:
            out.reject(i, exc.message)
    return out


def _str(doc: dict[str, Any], name: str, default: str, max_len: int = 200) -> str:
    value = doc.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInputError(f"'{name}' must be a string", field=name)
    if len(value) > max_len:
        raise LimitExceededError(f"'{name}' is longer than {max_len} characters", field=name)
    return value


def _event(doc: Any, limits: Limits, now: float) -> Signal:
    if not isinstance(doc, dict):
        raise InvalidInputError("each event must be an object", field="events")
    kind = _str(doc, "kind", "event", 32)
    if kind not in _KINDS:
        raise InvalidInputError(f"unknown kind {kind!r} (one of {', '.join(sorted(_KINDS))})", field="kind")
    status = _str(doc, "status", "firing", 16)
    if status not in ("firing", "resolved"):
        raise InvalidInputError("status must be 'firing' or 'resolved'", field="status")
    t = parse_time(doc["time"], "time") if doc.get("time") is not None else now
    labels = limits.labels(doc.get("labels"), "labels")
    values_raw = doc.get("values") or {}
    if not isinstance(values_raw, dict):
        raise InvalidInputError("'values' must map names to numbers", field="values")
    values: dict[str, float] = {}
    for k, v in values_raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise InvalidInputError(f"values.{k} must be a finite number", field="values")
        values[str(k)] = float(v)
    evidence = doc.get("evidence") or {}
    if not isinstance(evidence, dict):
        raise InvalidInputError("'evidence' must be an object", field="evidence")
    if evidence and len(orjson.dumps(evidence)) > MAX_EVIDENCE_BYTES:
        raise LimitExceededError(f"'evidence' is larger than {MAX_EVIDENCE_BYTES} bytes", field="evidence")
    service = doc.get("service")
    if service is not None and not isinstance(service, str):
        raise InvalidInputError("'service' must be a string", field="service")
    text = doc.get("text", doc.get("message", ""))
    if not isinstance(text, str):
        raise InvalidInputError("'text' must be a string", field="text")
    sev = doc.get("severity")
    if sev is not None and not isinstance(sev, str | int):
        raise InvalidInputError("'severity' must be a name or 1-4", field="severity")
    return limits.signal(time=t, now=now, source=_str(doc, "source", "events"), kind=kind, labels=labels,
                         severity=sev if sev is not None else ("info" if kind == "event" else "warning"),
                         text=text, values=values, status=status, evidence=evidence,
                         service=service[:200] if service else None)
