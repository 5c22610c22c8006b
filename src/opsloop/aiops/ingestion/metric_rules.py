"""Static threshold rules on ingested metric points (remote_write, OTLP, Prometheus pull).

The learned detectors (``aiops.detection``) find what is unusual; these rules say what is plainly
wrong, like a Prometheus alerting rule evaluated on the points opsloop receives::

    {"name": "NodeExporterDown", "selector": "up{job=\\"node\\"}", "below": 1, "for_s": 0,
     "severity": "critical", "text": "{instance} is down"}

A series that breaches (``value > above`` or ``value < below``) for ``for_s`` seconds fires one
``metric_anomaly`` signal (source ``rule:<name>``); the first point back within bounds resolves it. A
point older than the latest seen of its series (out of order) changes nothing, as a Prometheus rule
judges a series by its latest sample.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.correlation.silences import Matcher, matches_all
from opsloop.aiops.ingestion.normalise import service_of
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["RULE_KEYS", "ThresholdRule", "ThresholdWatch", "parse_selector"]

_SEL = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:.]*)?\s*(\{.*\})?\s*$", re.S)


def parse_selector(selector: str) -> list[Matcher]:
    from opsloop.aiops.correlation.silences import parse_matchers

    m = _SEL.match(selector or "")
    if not m or not (m.group(1) or m.group(2)):
        raise InvalidInputError(f"cannot parse selector {selector!r}", field="selector")
    out = [Matcher("__name__", "=", m.group(1))] if m.group(1) else []
    if m.group(2):
        out.extend(parse_matchers(m.group(2)))
    return out


RULE_KEYS = frozenset({"name", "selector", "above", "below", "for_s", "severity", "text"})


@dataclass
class ThresholdRule:
    name: str
    selector: str
    above: float | None = None
    below: float | None = None
    for_s: float = 0.0
    severity: str = "warning"
    text: str = ""
    matchers: list[Matcher] = field(default_factory=list, repr=False)

    @classmethod
    def from_dict(cls, doc: Any) -> ThresholdRule:
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
            raise InvalidInputError("a metric rule needs a 'name'", field="name")
        try:
            above = float(doc["above"]) if doc.get("above") is not None else None
            below = float(doc["below"]) if doc.get("below") is not None else None
            for_s = float(doc.get("for_s", 0))
        except (TypeError, ValueError):
            raise InvalidInputError("above, below and for_s must be numbers", field="above") from None
        if above is None and below is None:
            raise InvalidInputError(f"rule {doc['name']!r} needs 'above' or 'below'", field="above")
        rule = cls(doc["name"], str(doc.get("selector", "")), above, below, for_s, str(doc.get("severity", "warning")),
                   str(doc.get("text", "")))
        rule.matchers = parse_selector(rule.selector)
        return rule

    def breached(self, value: float) -> bool:
        return (self.above is not None and value > self.above) or (self.below is not None and value < self.below)

    def describe(self, labels: Mapping[str, str], value: float) -> str:
        if self.text:
            try:
                return _FIELDS.vformat(self.text, (), _Default(labels, value=value))
            except (ValueError, IndexError, KeyError, AttributeError, TypeError):  # not a template: as written
                return self.text
        limits = {"above": f"> {self.above:g}" if self.above is not None else "",
                  "below": f"< {self.below:g}" if self.below is not None else ""}
        if self.above is not None and value > self.above:
            bound = limits["above"]
        elif self.below is not None and value < self.below:
            bound = limits["below"]
        else:  # back within the limits (a resolved signal): name them
            bound = "limit " + " or ".join(b for b in limits.values() if b)
        return f"{self.name}: {labels.get('__name__', 'value')} = {value:g} ({bound})"


class _Fields(string.Formatter):
    """``str.format`` of a rule's text with only plain names (``{instance}``, ``{value:.1f}``): a field
    that reaches into a value (``{queue[x]}``, ``{value.real}``) is no field, and the text stays as written
    (a ``TypeError`` there was a 500 to every remote_write batch with a breaching sample, which Prometheus
    re-sends for ever)."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"{field_name!r} is not a label name")
        return super().get_field(field_name, args, kwargs)


_FIELDS = _Fields()


class _Default(dict):
    def __init__(self, labels: Mapping[str, str], **extra: Any) -> None:
        super().__init__(labels, **extra)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class ThresholdWatch:
    """Per-series breach state for a list of rules; ``observe`` returns firing/resolved signals."""

    def __init__(self, rules: list[ThresholdRule], max_series: int = 100_000) -> None:
        self.rules = rules
        self.max_series = max_series
        # (rule, series) -> (breach start, firing, time of the latest sample seen)
        self._state: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, bool, float]] = {}

    def observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
        if math.isnan(value):
            return []
        out = []
        for rule in self.rules:
            if not matches_all(rule.matchers, labels):
                continue
            key = (rule.name, tuple(sorted(labels.items())))
            state = self._state.pop(key, None)  # put back last: the states forgot first are the quietest
            if state is not None and t < state[2]:
                # a sample older than one seen (out of order): the series' state is its latest sample's, as a
                # Prometheus rule sees it; an old in-bounds sample resolved a firing alert before its start
                self._state[key] = state
                continue
            if rule.breached(value):
                since, firing = (state[0], state[1]) if state else (t, False)
                if not firing and t - since >= rule.for_s:
                    out.append(self._signal(rule, labels, since, value, "firing"))
                    firing = True
                self._state[key] = (since, firing, t)
            elif state is not None:
                if state[1]:
                    sig = self._signal(rule, labels, state[0], value, "resolved")
                    sig.evidence["endsAt"] = t
                    out.append(sig)
        if len(self._state) > self.max_series:  # the least recently seen tenth
            for k in list(self._state)[: len(self._state) // 10]:
                del self._state[k]
        return out

    def carry_over(self, previous: ThresholdWatch) -> list[Signal]:
        """Take over ``previous``'s series state for the rules still named here (a rule changed keeps judging
        its series from their state: a firing one resolves once back within the new bounds); the alerts
        firing for rules no longer here are returned resolved."""
        names = {rule.name for rule in self.rules}
        gone = {rule.name: rule for rule in previous.rules if rule.name not in names}
        out = []
        for key, state in previous._state.items():
            if key[0] in names:
                self._state[key] = state
            elif state[1] and key[0] in gone:
                labels = dict(key[1])
                sig = self._signal(gone[key[0]], labels, state[0], math.nan, "resolved")
                sig.text, sig.values = f"{key[0]}: the rule was removed", {}
                sig.evidence["endsAt"] = state[2]
                out.append(sig)
        return out

    def restore(self, firing: Iterable[Signal]) -> None:
        """Take back the alerts stored firing (after a restart), so that a series back within bounds
        resolves its alert; the series' labels are the alert's, less ``alertname``, with ``metric`` as
        ``__name__``."""
        names = {rule.name for rule in self.rules}
        for sig in firing:
            name = sig.source.removeprefix("rule:")
            if not sig.source.startswith("rule:") or name not in names:
                continue
            labels = {k: v for k, v in sig.labels.items() if k not in ("alertname", "metric")}
            if sig.labels.get("metric"):
                labels["__name__"] = sig.labels["metric"]
            self._state.setdefault((name, tuple(sorted(labels.items()))), (sig.time, True, sig.time))

    @staticmethod
    def _signal(rule: ThresholdRule, labels: Mapping[str, str], t: float, value: float, status: str) -> Signal:
        out_labels = {k: v for k, v in labels.items() if k != "__name__"}
        out_labels["alertname"] = rule.name
        out_labels["metric"] = labels.get("__name__", "")
        return Signal(time=t, source=f"rule:{rule.name}"[:200], kind=SignalKind.METRIC_ANOMALY,
                      service=service_of(labels), labels=out_labels, severity=Severity.parse(rule.severity),
                      text=rule.describe(labels, value), values={"value": value}, status=status,
                      evidence={"rule": {"above": rule.above, "below": rule.below, "selector": rule.selector}})
