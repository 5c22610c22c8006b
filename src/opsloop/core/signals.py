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
        if value is None or value == "":
            return cls.WARNING
        if isinstance(value, int):
            return cls(max(1, min(4, value)))
        return SEVERITY_ALIASES.get(str(value).strip().lower(), cls.WARNING)


# the words Severity.parse understands (Alertmanager's, syslog's, OTel's and PagerDuty's usual ones)
SEVERITY_ALIASES = {
    "info": Severity.INFO, "informational": Severity.INFO, "low": Severity.INFO, "debug": Severity.INFO,
    "notice": Severity.INFO, "none": Severity.INFO, "trace": Severity.INFO,
    "warning": Severity.WARNING, "warn": Severity.WARNING, "medium": Severity.WARNING, "minor": Severity.WARNING,
    "error": Severity.ERROR, "err": Severity.ERROR, "high": Severity.ERROR, "major": Severity.ERROR,
    "critical": Severity.CRITICAL, "crit": Severity.CRITICAL, "fatal": Severity.CRITICAL,
    "page": Severity.CRITICAL, "emergency": Severity.CRITICAL, "alert": Severity.CRITICAL,
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
