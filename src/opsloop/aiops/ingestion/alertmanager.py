"""Prometheus Alertmanager webhook receiver (payload version 4, firing and resolved alerts), which also
takes Grafana Alerting's webhook (a contact point of type webhook: the same envelope and alerts,
``"version": "1"`` and an ``orgId``).

Alertmanager posts a group of alerts; each alert becomes one ``alert`` signal whose time is its
``startsAt`` (so a re-sent alert has the same identity and folds into the stored one) and whose status
follows the alert's. Annotations become the text (``summary``, then ``description``, then ``message``)
and the evidence; the alert's labels are the signal's labels. A Grafana alert's signal has the source
``grafana``; the query values that made it fire (``values``, by query ref id) are its values, and its
dashboard, panel and silence links are evidence.

``decode_alert_list`` takes Alertmanager's own API instead (``POST /api/v2/alerts``: a JSON list of
alerts, as Prometheus, Loki's and Mimir's rulers and vmalert send to every Alertmanager they know).
There an alert has no status: it fires until its ``endsAt``, which its sender pushes forward by
posting it again, and an ``endsAt`` already past resolves it. As Alertmanager does, a label with an
empty value is dropped (it is no label) and an alert that ends before it starts is refused. A firing
one's end is kept in its evidence as ``expires_at`` (five minutes from now when it has none,
Alertmanager's ``resolve_timeout``), and an alert not posted again by then resolves
(``opsloop.aiops.ingestion.expiry``).
"""

from __future__ import annotations

import math
from typing import Any

from opsloop.aiops.ingestion.normalise import Decoded, Limits, load_json, parse_time
from opsloop.core.signals import SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["ALERT_API_SOURCE", "RESOLVE_TIMEOUT_S", "decode_alert_list", "decode_alertmanager"]

_ZERO_TIME = -62135596800.0  # Go's zero time.Time (0001-01-01T00:00:00Z, amtool writes ".000Z"): not set
_LINKS = ("generatorURL", "fingerprint")
_GRAFANA_LINKS = (*_LINKS, "dashboardURL", "panelURL", "silenceURL", "imageURL")
_MAX_VALUES = 32  # query results of one Grafana alert kept as values
ALERT_API_SOURCE = "alertmanager_api"  # the source of alerts posted to Alertmanager's API
RESOLVE_TIMEOUT_S = 300.0  # an API alert without an end fires this long unless posted again


def decode_alertmanager(body: bytes, limits: Limits, now: float) -> Decoded:
    """Decode one webhook body; malformed envelopes raise ``InvalidInputError``, bad alerts are rejected."""
    payload = _load(body, dict, "the webhook body must be a JSON object")
    version = payload.get("version", "4")
    grafana = "orgId" in payload  # Grafana Alerting's webhook: Alertmanager's envelope, its own version
    if str(version) != ("1" if grafana else "4"):
        expected = "\"1\" (Grafana)" if grafana else "\"4\""
        raise InvalidInputError(f"unsupported Alertmanager webhook version {version!r} (expected {expected})",
                                field="version")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidInputError("'alerts' must be a list", field="alerts")
    out = Decoded(items=len(alerts))
    receiver = payload.get("receiver")
    if not isinstance(receiver, str):
        receiver = ""
    for i, alert in enumerate(alerts):
        try:
            out.signals.append(_alert(alert, limits, now, receiver, i, "grafana" if grafana else "alertmanager"))
        except InvalidInputError as exc:
            out.reject(i, exc.message)
    return out


def decode_alert_list(body: bytes, limits: Limits, now: float) -> Decoded:
    """Decode a ``POST /api/v2/alerts`` body (a list of alerts, each firing until its ``endsAt``)."""
    payload = _load(body, list, "the body must be a JSON list of alerts")
    out = Decoded(items=len(payload), source=ALERT_API_SOURCE)
    for i, alert in enumerate(payload):
        try:
            out.signals.append(_alert(alert, limits, now, "", i, ALERT_API_SOURCE))
        except InvalidInputError as exc:
            out.reject(i, exc.message)
    return out


def _load(body: bytes, shape: type, wrong: str) -> Any:
    """The JSON document of ``body``, which must be a ``shape`` (else ``wrong`` is the 400's message)."""
    payload = load_json(body)
    if not isinstance(payload, shape):
        raise InvalidInputError(wrong, field="body")
    return payload


def _alert(alert: Any, limits: Limits, now: float, receiver: str, i: int, source: str) -> Any:
    """One alert as a signal. An alert of Alertmanager's API (``ALERT_API_SOURCE``) has no status: an
    ``endsAt`` already past resolves it, and a firing one keeps its end (or the resolve timeout's) as
    ``expires_at``."""
    if not isinstance(alert, dict):
        raise InvalidInputError(f"alerts[{i}] must be an object", field="alerts")
    grafana, api = source == "grafana", source == ALERT_API_SOURCE
    labels = limits.labels(alert.get("labels"), "labels")
    if api:  # as Alertmanager's API: a label with an empty value is no label (Prometheus never sends one)
        labels = {k: v for k, v in labels.items() if v != ""}
    if not labels:
        raise InvalidInputError("an alert needs labels", field="labels")
    annotations = limits.labels(alert.get("annotations"), "annotations")
    status = "firing" if api else alert.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise InvalidInputError(f"status must be 'firing' or 'resolved', not {status!r}", field="status")
    start = _time_or_none(alert.get("startsAt"), "startsAt")
    start = now if start is None else start
    end = _time_or_none(alert.get("endsAt"), "endsAt")
    if api and end is not None and end < start:  # Alertmanager refuses it with these words
        raise InvalidInputError("start time must be before end time", field="endsAt")
    if api and end is not None and end <= now:
        status = "resolved"
    text = (annotations.get("summary") or annotations.get("description") or annotations.get("message")
            or labels.get("alertname", ""))
    evidence: dict[str, Any] = {"annotations": annotations}
    for key in _GRAFANA_LINKS if grafana else _LINKS:
        if isinstance(alert.get(key), str) and alert[key]:
            evidence[key] = alert[key]
    if receiver:
        evidence["receiver"] = receiver
    if status == "resolved":
        evidence["endsAt"] = end if end is not None else now
    elif api:
        evidence["expires_at"] = end if end is not None else now + RESOLVE_TIMEOUT_S
    values = {**(_query_values(alert.get("values")) if grafana else {}), **_annotated_value(annotations)}
    sig = limits.signal(
        time=start, now=now, source=source, kind=SignalKind.ALERT, labels=labels,
        severity=labels.get("severity"), text=text, values=values, status=status, evidence=evidence,
    )
    return sig


def _time_or_none(value: Any, name: str) -> float | None:
    """The time of ``value``; ``None`` when it is absent, empty or Go's zero time, in any of its spellings."""
    if value in (None, ""):
        return None
    t = parse_time(value, name)
    return None if t == _ZERO_TIME else t


def _annotated_value(annotations: dict[str, str]) -> dict[str, float]:
    """The alert's ``value`` annotation as its value, when it is a finite number (`{{ $value }}` of a ratio
    over no traffic is NaN or +Inf: evidence only)."""
    raw_value = annotations.get("value")
    if not raw_value:
        return {}
    try:
        value = float(raw_value)
    except ValueError:
        return {}
    return {"value": value} if math.isfinite(value) else {}


def _query_values(raw: Any) -> dict[str, float]:
    """A Grafana alert's query results by ref id (``{"B": 44.2, "C": 1}``): the finite numbers, at most
    ``_MAX_VALUES`` of them; anything else is left out (they are evidence, not the alert)."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, float] = {}
    for key, value in raw.items():
        if len(out) >= _MAX_VALUES:
            break
        if isinstance(key, str) and 0 < len(key) <= 64 and isinstance(value, int | float) and \
                not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out
