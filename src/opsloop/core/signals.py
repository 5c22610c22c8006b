"""The one shape every operational signal takes.

Alerts, metric anomalies, log anomalies, predictive warnings, model drift and
model-performance breaches are all ``Signal``s, so correlation and incidents
treat them alike.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote  # how json.dumps writes a string
from typing import Any

__all__ = ["SEVERITY_ALIASES", "Severity", "Signal", "SignalKind"]


class Severity(enum.IntEnum):
    """Ordered severities; names match Alertmanager/OTel conventions loosely."""

    INFO = 1
    WARNING = 2
    ERROR = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | int | None) -> Severity:
        """A severity from a number (1 info … 4 critical, clamped) or a word of ``SEVERITY_ALIASES``,
        in any case, spacing (``"SEV 1"``, ``"sev-1"``) or with OpenTelemetry's number suffix
        (``"WARN2"``); anything else, or nothing, is a warning."""
        if value is None or value == "":
            return cls.WARNING
        if isinstance(value, int):
            return cls(max(1, min(4, value)))
        word = str(value).strip().lower()
        found = SEVERITY_ALIASES.get(word)
        if found is not None:
            return found
        if word.isdecimal():  # a number as text means what the number means
            return cls.parse(int(word))
        word = word.replace(" ", "").replace("-", "").replace("_", "")
        found = SEVERITY_ALIASES.get(word) or SEVERITY_ALIASES.get(word.rstrip("1234"))
        return cls.WARNING if found is None else found


# the words Severity.parse understands: Alertmanager's and Grafana's usual labels, syslog's levels,
# OpenTelemetry's and .NET's severity texts, Zabbix's severities, and incident priorities (P1-P5,
# SEV1-SEV5, highest first)
SEVERITY_ALIASES = {
    "info": Severity.INFO, "informational": Severity.INFO, "information": Severity.INFO, "low": Severity.INFO,
    "debug": Severity.INFO, "notice": Severity.INFO, "none": Severity.INFO, "trace": Severity.INFO,
    "verbose": Severity.INFO, "notclassified": Severity.INFO,
    "p4": Severity.INFO, "p5": Severity.INFO, "sev4": Severity.INFO, "sev5": Severity.INFO,
    "warning": Severity.WARNING, "warn": Severity.WARNING, "medium": Severity.WARNING, "minor": Severity.WARNING,
    "moderate": Severity.WARNING, "average": Severity.WARNING, "p3": Severity.WARNING, "sev3": Severity.WARNING,
    "error": Severity.ERROR, "err": Severity.ERROR, "high": Severity.ERROR, "major": Severity.ERROR,
    "severe": Severity.ERROR, "p2": Severity.ERROR, "sev2": Severity.ERROR,
    "critical": Severity.CRITICAL, "crit": Severity.CRITICAL, "fatal": Severity.CRITICAL,
    "page": Severity.CRITICAL, "emergency": Severity.CRITICAL, "emerg": Severity.CRITICAL,
    "alert": Severity.CRITICAL, "disaster": Severity.CRITICAL, "panic": Severity.CRITICAL,
    "p1": Severity.CRITICAL, "sev1": Severity.CRITICAL, "sev0": Severity.CRITICAL, "p0": Severity.CRITICAL,
}


class SignalKind(enum.StrEnum):
    ALERT = "alert"
    METRIC_ANOMALY = "metric_anomaly"
    LOG_ANOMALY = "log_anomaly"
    PREDICTION = "prediction"
    MODEL_DRIFT = "model_drift"
    MODEL_PERFORMANCE = "model_performance"
    MODEL_HEALTH = "model_health"
    EVENT = "event"
    LOG = "log"


@dataclass(slots=True)
class Signal:
    """One operational observation, normalised.

    Attributes:
        time: event time, seconds since the epoch (UTC).
        source: who emitted it (``alertmanager``, ``otlp``, ``detector:seasonal``, ``monitor:drift``…).
        kind: a ``SignalKind`` value.
        service: the resource/service it is about (``""`` when unknown).
        labels: string labels (Alertmanager/Prometheus style).
        severity: ``Severity``.
        text: human-readable summary.
        values: numbers that back the signal (observed, expected_low, expected_high, score, psi…).
        status: ``firing`` or ``resolved``.
        evidence: any structured detail (forecast points, template ids, drift report…).
    """

    time: float
    source: str
    kind: str = SignalKind.ALERT
    service: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    severity: Severity = Severity.WARNING
    text: str = ""
    values: dict[str, float] = field(default_factory=dict)
    status: str = "firing"
    evidence: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Identity of the condition (not of the occurrence): same source, kind, service and labels."""
        try:  # the text ``json.dumps`` gives for string fields, written directly (it is hashed per signal)
            pairs = ", ".join([f"[{_quote(k)}, {_quote(v)}]" for k, v in sorted(self.labels.items())])
            key = f"[{_quote(self.source)}, {_quote(str(self.kind))}, {_quote(self.service)}, [{pairs}]]"
        except TypeError:  # a field that is not a string
            key = json.dumps([self.source, str(self.kind), self.service, sorted(self.labels.items())])
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "source": self.source,
            "kind": str(self.kind),
            "service": self.service,
            "labels": dict(self.labels),
            "severity": self.severity.name.lower(),
            "text": self.text,
            "values": dict(self.values),
            "status": self.status,
            "evidence": self.evidence,
            "fingerprint": self.fingerprint(),
        }
