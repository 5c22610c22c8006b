"""Multivariate detection on a service's set of metrics, fed with the same ingested points.

Points ``(labels, t, value)`` whose labels match a ``ServiceRule`` are grouped by ``group_by``
labels (the service) into one vector per time bucket, keyed by ``feature_label`` (the metric
name). When a later bucket starts, the finished vector (missing metrics carried forward) is scored
and learned by the group's multivariate detector (half-space trees by default), and the alerter
turns the probability into ``metric_anomaly`` signals naming the metrics that moved most.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.aiops.detection.watch import parse_selector
from opsloop.core.detectors import AnomalyDetector, from_config
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["ServiceRule", "ServiceWatch"]

_DEFAULT_DETECTOR = {"class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees", "params": {}}


@dataclass
class ServiceRule:
    """Which metrics form a service's vector, and how it is watched.

    Attributes:
        name: rule name (the ``rule`` label of signals).
        selector: PromQL-style selector of the member series.
        group_by: labels that identify the group (one detector per distinct value tuple).
        feature_label: label whose value names the vector component (the metric name by default).
        bucket: seconds per vector; points of one bucket are combined (last value wins).
        max_features: components kept per group (later new metrics are ignored).
        detector, alerter: detector configuration (``Estimator.config()`` form) and alerter parameters.
    """

    name: str
    selector: str
    group_by: tuple[str, ...] = ("service",)
    feature_label: str = "__name__"
    bucket: float = 60.0
    max_features: int = 64
    detector: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_DETECTOR))
    alerter: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.bucket <= 0:
            raise InvalidInputError("bucket must be > 0 seconds", field="bucket")
        self.matchers = parse_selector(self.selector)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


class _Group:
    __slots__ = ("rule", "labels", "detector", "alerter", "bucket", "current", "last")

    def __init__(self, rule: ServiceRule, labels: dict[str, str]) -> None:
        det = from_config(rule.detector)
        if not isinstance(det, AnomalyDetector):
            raise InvalidInputError(f"rule {rule.name!r}: not an anomaly detector", field="detector")
        self.rule = rule
        self.labels = labels
        self.detector = det
        self.alerter = HysteresisAlerter(**{"source": "detector:multivariate", **rule.alerter})
        self.bucket: int | None = None
        self.current: dict[str, float] = {}
        self.last: dict[str, float] = {}


class ServiceWatch:
    """One multivariate detector per service, fed point by point.

    Args:
        rules: service rules, first match wins.
        max_groups: most groups kept at once (least recently updated ones are evicted).
    """

    def __init__(self, rules: list[ServiceRule], *, max_groups: int = 2_000) -> None:
        self.rules = list(rules)
        self.max_groups = max_groups
        self._groups: OrderedDict[tuple[str, tuple[str, ...]], _Group] = OrderedDict()

    def __len__(self) -> int:
        return len(self._groups)

    def _group(self, labels: Mapping[str, str]) -> _Group | None:
        rule = next((r for r in self.rules if r.matches(labels)), None)
        if rule is None:
            return None
        values = tuple(labels.get(k, "") for k in rule.group_by)
        key = (rule.name, values)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = _Group(rule, dict(zip(rule.group_by, values, strict=True)))
            if len(self._groups) > self.max_groups:
                self._groups.popitem(last=False)
        else:
            self._groups.move_to_end(key)
        return g

    def observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
        """Add one point; returns signals when it closes a bucket whose vector is anomalous."""
        g = self._group(labels)
        if g is None:
            return []
        try:
            x = float(value)
        except (TypeError, ValueError):
            return []
        name = labels.get(g.rule.feature_label, "")
        bucket = int(math.floor(t / g.rule.bucket))
        out: list[Signal] = []
        if g.bucket is None:
            g.bucket = bucket
        elif bucket > g.bucket:
            sig = self._close(g)
            if sig is not None:
                out.append(sig)
            g.bucket = bucket
        elif bucket < g.bucket:
            return []  # late point of a bucket already scored
        if math.isfinite(x) and (name in g.current or name in g.last or len(g.last) < g.rule.max_features):
            g.current[name] = x
        return out

    def _close(self, g: _Group) -> Signal | None:
        g.last.update(g.current)
        g.current = {}
        if not g.last:
            return None
        vec = dict(g.last)
        t = (g.bucket + 1) * g.rule.bucket if g.bucket is not None else 0.0
        p = g.detector.score_one(vec, t)
        g.detector.learn_one(vec, t)
        status = g.alerter.step(p)
        if status is None:
            return None
        if status == "firing":
            g.alerter.opened_at = t
        movers = _movers(g.detector, vec)
        labels = {**g.labels, "rule": g.rule.name}
        text = f"{', '.join(g.labels.values()) or g.rule.name}: unusual combination of metrics"
        if movers:
            text += " (" + ", ".join(f"{k} z={z:+.1f}" for k, z in movers[:3]) + ")"
        service = g.labels.get("service", "")
        strong = p >= 1.0 - (1.0 - g.alerter.on) / 100
        return Signal(
            time=t,
            source="detector:multivariate",
            kind=SignalKind.METRIC_ANOMALY,
            service=service,
            labels=labels,
            severity=Severity.ERROR if strong else Severity.WARNING,
            text=text,
            values={"score": p},
            status=status,
            evidence={"observed": vec, "deviations": dict(movers), "probability": p},
        )

    def groups(self) -> list[dict[str, str]]:
        """Group labels currently watched."""
        return [dict(g.labels) for g in self._groups.values()]


def _movers(det: AnomalyDetector, vec: Mapping[str, float]) -> list[tuple[str, float]]:
    """Metrics ordered by how far they are from their running level (robust z), when known."""
    loc, scale, names = (
        getattr(det, "_loc", None),
        getattr(det, "_scale", None),
        getattr(det, "_features", None),
    )
    if not loc or not scale or not names:
        return []
    z = [(n, (vec[n] - m) / s) for n, m, s in zip(names, loc, scale, strict=True) if n in vec and s > 0]
    return sorted(z, key=lambda kv: -abs(kv[1]))
