"""Multivariate detection on a service's set of metrics, fed with the same ingested points.

Points ``(labels, t, value)`` whose labels match a ``ServiceRule`` are grouped by ``group_by``
labels (the service) into one vector per time bucket, keyed by ``feature_label`` (the metric
name). When a later bucket starts, the finished vector (missing metrics carried forward) is scored
and learned by the group's multivariate detector (half-space trees by default), and the alerter
turns the probability into ``metric_anomaly`` signals naming the metrics that moved most.

Groups resumed from checkpoints (``restore``) are built lazily, as ``MetricWatch``'s series are: a
group is *pending*, held as its checkpoint (what it learned one JSON string, ``learned``, parsed only
then), until its next point or ``warm`` builds it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.aiops.detection.ledger import ChangeLedger, adopt_streams, signature
from opsloop.aiops.detection.pending import Pending, evict_past, resume_pending, warm_pending
from opsloop.aiops.detection.watch import build_part, parse_selector, rehearsal
from opsloop.aiops.ingestion.normalise import service_of
from opsloop.core.detectors import AnomalyDetector, from_config
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["ServiceRule", "ServiceWatch"]

log = logging.getLogger("opsloop.aiops.detection")
_DEFAULT_DETECTOR = {"class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees", "params": {}}
_REHEARSAL_BUCKETS = 300


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
        if not isinstance(self.name, str) or not self.name or len(self.name) > 200:
            raise InvalidInputError("a service rule needs a 'name' (a string of at most 200 characters)", field="name")
        if not isinstance(self.selector, str):
            raise InvalidInputError(f"service rule {self.name!r}: 'selector' must be a string", field="selector")
        self.matchers = parse_selector(self.selector)
        if isinstance(self.group_by, str) or not all(isinstance(g, str) for g in self.group_by):
            raise InvalidInputError(f"service rule {self.name!r}: 'group_by' must be a list of label names",
                                    field="group_by")
        self.group_by = tuple(self.group_by)
        if not isinstance(self.feature_label, str) or not self.feature_label:
            raise InvalidInputError(f"service rule {self.name!r}: 'feature_label' must be a label name",
                                    field="feature_label")
        if isinstance(self.bucket, bool) or not isinstance(self.bucket, int | float) or not 0 < self.bucket < 1e9:
            raise InvalidInputError("bucket must be > 0 seconds", field="bucket")
        if isinstance(self.max_features, bool) or not isinstance(self.max_features, int) or self.max_features < 1:
            raise InvalidInputError(f"service rule {self.name!r}: 'max_features' must be a positive integer",
                                    field="max_features")
        for name in ("detector", "alerter"):
            if not isinstance(getattr(self, name), Mapping):
                raise InvalidInputError(f"service rule {self.name!r}: '{name}' must be an object", field=name)
        _rehearse(self)  # a bad parameter fails here, when the rule is set, not when a point arrives

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @cached_property
    def signature(self) -> str:
        """A digest of the rule's definition (checkpoints are restored only under the same one; see
        ``WatchRule.signature``)."""
        return signature({k: getattr(self, k) for k in ("name", "selector", "group_by", "feature_label", "bucket",
                                                         "max_features", "detector", "alerter")})


class _Group:
    __slots__ = ("rule", "labels", "detector", "alerter", "bucket", "current", "last")

    def __init__(self, rule: ServiceRule, labels: dict[str, str]) -> None:
        det = build_part(rule.name, "detector", lambda: from_config(rule.detector))
        if not isinstance(det, AnomalyDetector):
            raise InvalidInputError(f"rule {rule.name!r}: not an anomaly detector", field="detector")
        self.rule = rule
        self.labels = labels
        self.detector = det
        self.alerter = build_part(rule.name, "alerter",
                                  lambda: HysteresisAlerter(**{"source": "detector:multivariate", **rule.alerter}))
        self.bucket: int | None = None
        self.current: dict[str, float] = {}
        self.last: dict[str, float] = {}


class ServiceWatch:
    """One multivariate detector per service, fed point by point.

    Args:
        rules: service rules, first match wins.
        max_groups: most groups kept at once (least recently updated ones are evicted).
    """

    def __init__(self, rules: list[ServiceRule], *, max_groups: int = 2_000, contain_errors: bool = True) -> None:
        self.rules = list(rules)
        self.max_groups = max_groups
        self.contain_errors = contain_errors
        self.failed: dict[str, str] = {}  # rule name -> the error that stopped its groups
        self._groups: OrderedDict[_GroupKey, _Group | Pending[ServiceRule]] = OrderedDict()  # least recently updated first
        self._unbuilt: dict[_GroupKey, None] = {}  # the pending ones, in the same order (``warm`` takes the last)
        self._stopped: set[_GroupKey] = set()
        self._ledger: ChangeLedger[_GroupKey] = ChangeLedger()  # what changed since the last ``take_changes``

    def __len__(self) -> int:
        return len(self._groups)

    def _group(self, labels: Mapping[str, str]) -> _Group | None:
        rule = next((r for r in self.rules if r.matches(labels)), None)
        if rule is None:
            return None
        values = _group_values(rule, labels)
        key = (rule.name, values)
        if key in self._stopped:
            return None
        g = self._groups.get(key)
        if isinstance(g, Pending):
            g = self._resume(key, g)
        if g is None:
            g = self._groups[key] = _Group(rule, dict(zip(rule.group_by, values, strict=True)))
            self._ledger.added(key)
            self._evict()
        else:
            self._groups.move_to_end(key)
            self._ledger.changed[key] = None
        return g

    def _evict(self) -> None:
        """Drop the least recently updated groups past ``max_groups`` (pending ones unbuilt)."""
        evict_past(self._groups, self._unbuilt, self._ledger, self.max_groups)

    def _resume(self, key: _GroupKey, pending: Pending[ServiceRule]) -> _Group | None:
        """Build a pending group from its checkpoint (see ``resume_pending``)."""
        return resume_pending(self._groups, self._unbuilt, self._ledger, key, pending.rule.name,
                              lambda: _group_from_state(pending.rule, key, pending.checkpoint), "group")

    def warm(self, limit: int | None = None, budget_s: float | None = None) -> bool:
        """Build pending groups ahead of their next point, the most recently updated first, as
        ``MetricWatch.warm`` does series: at most ``limit``, and (when given) until ``budget_s`` seconds
        have passed, one at least. Returns whether pending groups are left."""
        return warm_pending(self._groups, self._unbuilt, self._resume, limit, budget_s)

    def observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
        """Add one point; returns signals when it closes a bucket whose vector is anomalous.

        A group whose detector fails is stopped (logged once per rule, listed in ``failed``): a bad
        rule never fails the ingestion of other senders."""
        if not self.contain_errors:
            return self._observe(labels, t, value)
        try:
            return self._observe(labels, t, value)
        except Exception as exc:  # noqa: BLE001 - contained: see the docstring
            rule = next((r for r in self.rules if r.matches(labels)), None)
            if rule is not None:
                values = _group_values(rule, labels)
                self._groups.pop((rule.name, values), None)
                self._unbuilt.pop((rule.name, values), None)
                self._stopped.add((rule.name, values))
                self._ledger.dropped((rule.name, values))
                if rule.name not in self.failed:
                    log.error("service rule %r stopped watching %s: %s", rule.name, values, exc, exc_info=exc)
                self.failed[rule.name] = f"{type(exc).__name__}: {exc}"
            return []

    def _observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
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
        """Group labels currently watched (pending ones included)."""
        return [dict(zip(g.rule.group_by, key[1], strict=True)) for key, g in self._groups.items()]

    def status(self) -> list[dict[str, Any]]:
        """Each rule with the number of groups it watches (pending ones included) and the error that
        stopped one, if any."""
        counts = Counter(g.rule.name for g in self._groups.values())
        return [{"name": r.name, "groups": counts.get(r.name, 0), "failed": self.failed.get(r.name)}
                for r in self.rules]

    def has_changes(self) -> bool:
        """Whether a ``take_changes`` would return anything."""
        return bool(self._ledger.changed or self._ledger.gone)

    def take_changes(self, limit: int | None = None) -> tuple[list[dict[str, Any]], list[list[list[str]]]]:
        """Checkpoints of the groups that changed since the last call, and the keys (as ``labels``) of
        the groups dropped since (see ``MetricWatch.take_changes``); a pending group learned nothing, so
        its checkpoint is not rewritten (and is given back unchanged if it is asked for)."""
        changed, gone = self._ledger.take(limit)
        return [_checkpoint(key, self._groups[key]) for key in changed if key in self._groups], [
            _group_labels(key) for key in gone]

    def restore(self, items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Add groups from their checkpoints (least recently updated first), pending: each is built on its
        next point or by ``warm``, whichever comes first (see ``MetricWatch.restore``).

        Returns the ones left out at once (as given): their rule is gone or was redefined, or their group
        does not read. The rest of a checkpoint is read when its group is built: one that does not load
        then is logged and the group starts afresh from that point (its checkpoint overwritten at the next
        ``take_changes``). A checkpoint of the earlier form (``detector`` and ``alerter`` at the top
        level) is held in today's. Past ``max_groups``, the groups restored first are dropped."""
        rules = {r.name: r for r in self.rules}
        left_out: list[Mapping[str, Any]] = []
        for item in items:
            rule = rules.get(item.get("rule", ""))
            if rule is None or item.get("signature") != rule.signature:
                left_out.append(item)
                continue
            try:
                values = tuple(str(v) for v in item["group"])
                if len(values) != len(rule.group_by):
                    raise ValueError(f"{len(values)} group values for {len(rule.group_by)} labels")
                pending = Pending.of(rule, item, _LEARNED)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("checkpoint of a %r group not restored: %s", rule.name, exc)
                left_out.append(item)
                continue
            key = (rule.name, values)
            self._groups[key] = pending
            self._unbuilt[key] = None
            self._ledger.gone.discard(key)
        self._evict()
        return left_out

    def adopt(self, previous: ServiceWatch) -> None:
        """Take over ``previous``' groups whose rule is still defined the same way; the others are dropped."""
        adopt_streams(self.rules, previous._groups, previous._ledger, self._groups, self._ledger)
        self._unbuilt.update((key, None) for key in previous._unbuilt if isinstance(self._groups.get(key), Pending))


_GroupKey = tuple[str, tuple[str, ...]]


def _group_values(rule: ServiceRule, labels: Mapping[str, str]) -> tuple[str, ...]:
    """The group a point belongs to under ``rule``; "service" is the service as every signal names it
    (``service.name`` from OTLP, ``app``, ``job``…)."""
    return tuple(service_of(labels) if k == "service" else labels.get(k, "") for k in rule.group_by)


def _group_labels(key: _GroupKey) -> list[list[str]]:
    """A group's identity in the form of a series' labels, so one checkpoint store keys both."""
    return [["__service_rule__", key[0]], *([f"__group_{i}__", v] for i, v in enumerate(key[1]))]


_LEARNED = ("detector", "alerter")  # the keys of a checkpoint's ``learned``


def _checkpoint(key: _GroupKey, g: _Group | Pending[ServiceRule]) -> dict[str, Any]:
    return dict(g.checkpoint) if isinstance(g, Pending) else _group_state(key, g)


def _group_state(key: _GroupKey, g: _Group) -> dict[str, Any]:
    """A group's checkpoint: what identifies it and its open vectors, then what it learned as one JSON
    string, last (``learned``: the store reads a row up to it, and a restore keeps it unparsed)."""
    learned = orjson.dumps({"detector": g.detector.state_dict(), "alerter": g.alerter.state_dict()}).decode()
    return {"kind": "service", "labels": _group_labels(key), "rule": g.rule.name, "signature": g.rule.signature,
            "group": list(key[1]), "bucket": g.bucket, "current": dict(g.current), "last": dict(g.last),
            "learned": learned}


def _group_from_state(rule: ServiceRule, key: _GroupKey, item: Mapping[str, Any]) -> _Group:
    learned = orjson.loads(item["learned"])
    g = _Group(rule, dict(zip(rule.group_by, key[1], strict=True)))
    g.detector.load_state_dict(learned["detector"])
    g.alerter.load_state_dict(learned["alerter"])
    g.bucket = None if item["bucket"] is None else int(item["bucket"])
    g.current = {str(k): float(v) for k, v in item["current"].items()}
    g.last = {str(k): float(v) for k, v in item["last"].items()}
    return g


def _rehearse(rule: ServiceRule) -> None:
    """Run a short stream of three-metric vectors (steady, then one that moves) through a group of the
    rule, so that parameters only read once points flow fail when the rule is set."""
    watch = ServiceWatch([rule], contain_errors=False)
    group = _Group(rule, {})
    with rehearsal(f"service rule {rule.name!r}", "service_rules"):
        for i in range(_REHEARSAL_BUCKETS):
            group.bucket = i
            jump = 50.0 if i == _REHEARSAL_BUCKETS - 5 else 0.0
            group.current = {"a": 10.0 + i % 7, "b": 5.0 + i % 3 + jump, "c": 1.0}
            watch._close(group)


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
