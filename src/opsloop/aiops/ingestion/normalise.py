"""The one internal shape and its guards: label limits, timestamps, service names, batches.

Every decoder builds ``Signal``s through ``Limits.signal`` (and metric samples through
``Limits.point``) so that the size limits, the future-timestamp guard and the service naming are the
same whatever the wire format.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from opsloop.core.signals import Severity, Signal
from opsloop.errors import InvalidInputError, LimitExceededError

__all__ = [
    "Decoded",
    "Limits",
    "MetricPoint",
    "Rejection",
    "load_json",
    "no_nul",
    "parse_time",
    "service_of",
]

# Labels that name the service a signal is about, most specific first.
# Loki's own service discovery order (validation.discover_service_name), less its generic ``name``,
# ``component`` and ``workload``: a Kubernetes stream or alert names its container before its scrape job
# (``KubePodCrashLooping{container="api", job="kube-state-metrics"}`` is about api)
SERVICE_LABELS = (
    "service", "service_name", "service.name", "app", "app_kubernetes_io_name", "application",
    "container", "container_name", "k8s_container_name", "job",
)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)?$"
)


def no_nul(text: str) -> str:
    """``text`` with NUL as U+FFFD: PostgreSQL stores no NUL in text (a batch holding one was a 500 there),
    and the log miner already writes bytes that are no text as U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def service_of(labels: Mapping[str, str]) -> str:
    for key in SERVICE_LABELS:
        value = labels.get(key)
        if value:
            return value
    return ""


def load_json(body: bytes) -> Any:
    """The JSON document of a request body; malformed JSON is a 400 naming the body."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"malformed JSON: {exc}", field="body") from None


def parse_time(value: Any, name: str = "time") -> float:
    """Epoch seconds from RFC 3339 text (nanosecond fractions allowed) or a number.

    Numbers are read by magnitude: seconds, milliseconds, microseconds or nanoseconds since the epoch.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"'{name}': expected a timestamp", field=name)
    if isinstance(value, (int, float)):
        return _scale(float(value), name)
    if isinstance(value, str):
        text = value.strip()
        m = _RFC3339.match(text)
        if m:
            y, mo, d, h, mi, s, frac, tz = m.groups()
            try:
                dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
            except ValueError:
                raise InvalidInputError(f"'{name}': invalid date {value!r}", field=name) from None
            t = dt.timestamp() + (float("0." + frac) if frac else 0.0)
            if tz and tz not in ("Z", "z"):
                sign = 1 if tz[0] == "+" else -1
                digits = tz[1:].replace(":", "")
                hours, minutes = int(digits[:2]), int(digits[2:])
                if hours > 23 or minutes > 59:
                    raise InvalidInputError(f"'{name}': invalid time offset {tz!r} in {value!r}", field=name)
                t -= sign * (hours * 3600 + minutes * 60)
            return t
        try:
            return _scale(float(text), name)
        except ValueError:
            pass
    raise InvalidInputError(f"'{name}': expected an RFC 3339 time or epoch number, got {value!r}", field=name)


def _scale(v: float, name: str) -> float:
    if v != v or v in (float("inf"), float("-inf")):
        raise InvalidInputError(f"'{name}': timestamp is not finite", field=name)
    a = abs(v)
    if a >= 1e17:
        return v / 1e9
    if a >= 1e14:
        return v / 1e6
    if a >= 1e11:
        return v / 1e3
    return v


@dataclass(slots=True)
class Rejection:
    """One item of a batch that was not accepted, and why."""

    index: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason}


@dataclass(slots=True)
class MetricPoint:
    """One sample of one series: what remote_write, OTLP metrics and Prometheus pull produce."""

    labels: dict[str, str]
    time: float
    value: float


@dataclass
class Decoded:
    """What one request carried: accepted signals and metric points, and the rejected items."""

    signals: list[Signal] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    items: int = 0
    source: str = ""

    def reject(self, index: int, reason: str) -> None:
        self.rejected.append(Rejection(index, reason))

    def summary(self, limit: int = 5) -> str:
        shown = "; ".join(f"#{r.index}: {r.reason}" for r in self.rejected[:limit])
        more = f" (and {len(self.rejected) - limit} more)" if len(self.rejected) > limit else ""
        return f"rejected {len(self.rejected)} of {self.items} items: {shown}{more}"


@dataclass(frozen=True)
class Limits:
    """What one signal may carry; ``now`` is injectable for tests."""

    max_labels: int = 64
    max_label_bytes: int = 4096
    max_future_skew_s: float = 3600.0
    max_text_bytes: int = 65536
    max_past_s: float = 10 * 365 * 86400.0

    @classmethod
    def from_settings(cls, ingestion: Any) -> Limits:
        return cls(
            max_labels=ingestion.max_labels,
            max_label_bytes=ingestion.max_label_bytes,
            max_future_skew_s=ingestion.max_future_skew_s,
        )

    def labels(self, raw: Any, name: str = "labels") -> dict[str, str]:
        """Validate a label map: string keys, scalar values made strings, within the limits."""
        if raw is None:
            return {}
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise InvalidInputError(f"'{name}': expected an object of labels", field=name)
        if len(raw) > self.max_labels:
            raise LimitExceededError(
                f"'{name}': {len(raw)} labels exceed the limit of {self.max_labels}", field=name
            )
        out: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(f"'{name}': label names must be non-empty strings", field=name)
            if value is None:
                continue
            if not isinstance(value, str):
                if isinstance(value, (int, float, bool)):
                    value = str(value).lower() if isinstance(value, bool) else str(value)
                else:
                    raise InvalidInputError(f"'{name}.{key}': label values must be strings", field=name)
            if len(key) > 256 or len(value) > self.max_label_bytes and len(value.encode()) > self.max_label_bytes:
                raise LimitExceededError(
                    f"'{name}.{key[:64]}': label longer than {self.max_label_bytes} bytes", field=name
                )
            out[no_nul(key)] = no_nul(value)
        return out

    def time(self, t: float, now: float, name: str = "time") -> float:
        if t > now + self.max_future_skew_s:
            raise InvalidInputError(
                f"'{name}': timestamp {t:.0f} is {t - now:.0f}s in the future "
                f"(more than {self.max_future_skew_s:.0f}s allowed)", field=name,
            )
        if t < now - self.max_past_s:
            raise InvalidInputError(f"'{name}': timestamp {t:.0f} is too far in the past", field=name)
        return t

    def text(self, value: Any, name: str = "text") -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            value = str(value)
        if len(value) > self.max_text_bytes:
            value = value[: self.max_text_bytes]
        return no_nul(value)

    def signal(
        self,
        *,
        time: float,
        now: float,
        source: str,
        kind: str,
        labels: dict[str, str],
        severity: Any = None,
        text: Any = "",
        values: dict[str, float] | None = None,
        status: str = "firing",
        evidence: dict[str, Any] | None = None,
        service: str | None = None,
    ) -> Signal:
        """One validated signal (labels must already have passed ``labels``)."""
        sev = severity if isinstance(severity, Severity) else _severity(severity)
        return Signal(
            time=self.time(time, now),
            source=source,
            kind=kind,
            service=no_nul(service) if service is not None else service_of(labels),
            labels=labels,
            severity=sev,
            text=self.text(text),
            values=values or {},
            status=status,
            evidence=evidence or {},
        )


_SEVERITIES: dict[Any, Severity] = {}


def _severity(value: Any) -> Severity:
    """``Severity.parse`` with a cache (it is called once per ingested alert)."""
    try:
        return _SEVERITIES[value]
    except (KeyError, TypeError):
        sev = Severity.parse(value)
        if isinstance(value, str | int | None) and len(_SEVERITIES) < 1024:
            _SEVERITIES[value] = sev
        return sev


def now() -> float:
    return _time.time()
