"""Inhibition: a firing root alert mutes the alerts it explains.

Two kinds, both checked for each new firing signal:

* Alertmanager-style rules: while a firing signal matches ``source`` matchers, signals matching
  ``target`` matchers with the same values of the ``equal`` labels are inhibited (as in Alertmanager, a
  signal matching both sides is not inhibited by one that also matches both: they would mute each other).
* Topology: while a service has a firing signal at least ``min_severity``, signals of the services
  that depend on it (up to ``max_hops``) are inhibited: they are the symptoms, it is the cause. Only
  while the failure is fresh: a symptom shows soon after its cause starts, so a signal more than
  ``max_lag_s`` per hop after the dependency's alert started is not its symptom (a new failure on a
  dependent during a long outage below it is a root of its own and must not be hidden).

An inhibited signal is still stored and still joins an open incident as evidence, but it opens no
incident of its own and so pages nobody.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.correlation.silences import Matcher, matches_all, parse_matchers
from opsloop.aiops.correlation.topology import Topology
from opsloop.core.signals import Severity, Signal
from opsloop.errors import InvalidInputError

__all__ = ["RULE_KEYS", "InhibitRule", "Inhibitor"]

# the keys of a rule document (``source``/``target`` are short for the ``…_matchers``; ``…_match`` and
# ``…_match_re`` are Alertmanager's older maps of label to value or regex, which it still takes)
RULE_KEYS = frozenset({"name", "source_matchers", "target_matchers", "source", "target", "equal",
                       "source_match", "source_match_re", "target_match", "target_match_re"})


@dataclass
class InhibitRule:
    source: list[Matcher]
    target: list[Matcher]
    equal: list[str] = field(default_factory=list)
    name: str = ""

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> InhibitRule:
        if not isinstance(doc, Mapping):
            raise InvalidInputError("an inhibit rule must be an object", field="inhibit_rules")
        src, tgt = _side(doc, "source"), _side(doc, "target")
        if src is None or tgt is None:
            raise InvalidInputError("an inhibit rule needs source_matchers and target_matchers",
                                    field="inhibit_rules")
        equal = doc.get("equal") or []
        if not isinstance(equal, list) or not all(isinstance(e, str) for e in equal):
            raise InvalidInputError("'equal' must be a list of label names", field="inhibit_rules")
        return cls(src, tgt, list(equal), str(doc.get("name", "")))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source_matchers": [str(m) for m in self.source],
                "target_matchers": [str(m) for m in self.target], "equal": self.equal}


def _side(doc: Mapping[str, Any], side: str) -> list[Matcher] | None:
    """The matchers of a rule's ``side`` (``source`` or ``target``): its ``…_matchers`` (or short name),
    and, as Alertmanager still takes them, ``…_match`` (label to value) and ``…_match_re`` (label to
    regex), all of which must hold; ``None`` when none is given."""
    given = doc.get(f"{side}_matchers", doc.get(side))
    out = parse_matchers(given) if given is not None else None
    for key, op in ((f"{side}_match", "="), (f"{side}_match_re", "=~")):
        pairs = doc.get(key)
        if pairs is None:
            continue
        if not isinstance(pairs, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in pairs.items()):
            raise InvalidInputError(f"'{key}' must map label names to strings", field=key)
        out = (out or []) + [Matcher(k, op, v) for k, v in pairs.items()]
    return out


def _view(sig: Signal) -> dict[str, str]:
    view = dict(sig.labels)
    view.setdefault("service", sig.service)
    return view


class Inhibitor:
    """Tracks firing signals that can inhibit, and judges new ones."""

    def __init__(
        self,
        rules: Iterable[InhibitRule] = (),
        topology: Topology | None = None,
        *,
        use_topology: bool = True,
        max_hops: int = 2,
        min_severity: Severity = Severity.ERROR,
        max_lag_s: float = 150.0,
    ) -> None:
        self.rules = list(rules)
        self.topology = topology
        self.use_topology = use_topology
        self.max_hops = max_hops
        self.min_severity = min_severity
        self.max_lag_s = max_lag_s
        self._rule_sources: list[dict[tuple[str, ...], set[str]]] = [defaultdict(set) for _ in self.rules]
        self._firing_services: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)  # -> fp -> (text, start)
        # per service, its firing signal that started last, as (start, text); filled on first use
        self._latest: dict[str, tuple[float, str]] = {}
        self._fp_keys: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        self._fp_service: dict[str, str] = {}
        self._views: dict[str, dict[str, str]] = {}  # the labels of each firing signal, for rules set later

    def set_rules(self, rules: Iterable[InhibitRule]) -> None:
        """Replace the rules; the signals firing now are sources of the new ones at once (a rule added
        during an outage mutes what its firing cause explains, as in Alertmanager)."""
        self.rules = list(rules)
        self._rule_sources = [defaultdict(set) for _ in self.rules]
        self._fp_keys.clear()
        for fp, view in self._views.items():
            self._source_of_rules(view, fp)

    def firing(self, sig: Signal, fp: str) -> None:
        """A signal started firing: it may now inhibit others."""
        view = self._views[fp] = _view(sig)
        if self.rules:
            self._source_of_rules(view, fp)
        if sig.service and sig.severity >= self.min_severity:
            svc, what = sig.service, sig.labels.get("alertname") or sig.text[:80]
            firing = self._firing_services[svc]
            latest = self._latest.get(svc)
            if fp in firing:  # a new start replaces the old one, which may have been the latest
                self._latest.pop(svc, None)
            elif latest is not None and (sig.time, what) > latest:
                self._latest[svc] = (sig.time, what)
            firing[fp] = (what, sig.time)
            self._fp_service[fp] = svc

    def _source_of_rules(self, view: Mapping[str, str], fp: str) -> None:
        keys = []
        for i, rule in enumerate(self.rules):
            if matches_all(rule.source, view):
                key = tuple(view.get(name, "") for name in rule.equal)
                self._rule_sources[i][key].add(fp)
                keys.append((i, key))
        if keys:
            self._fp_keys[fp] = keys

    def resolved(self, fp: str) -> None:
        self._views.pop(fp, None)
        for i, key in self._fp_keys.pop(fp, []):
            if i < len(self._rule_sources):
                self._rule_sources[i][key].discard(fp)
        svc = self._fp_service.pop(fp, None)
        if svc is not None:
            self._firing_services[svc].pop(fp, None)
            self._latest.pop(svc, None)
            if not self._firing_services[svc]:
                del self._firing_services[svc]

    def check(self, sig: Signal, fp: str) -> str | None:
        """Why this signal is inhibited, or ``None``."""
        view = _view(sig) if self.rules else {}
        for i, rule in enumerate(self.rules):
            if matches_all(rule.target, view):
                key = tuple(view.get(name, "") for name in rule.equal)
                sources = self._rule_sources[i].get(key)
                if sources and self._inhibits(rule, view, sources - {fp}):
                    return f"inhibited by rule {rule.name or i}"
        if self.use_topology and self.topology is not None and sig.service and self._firing_services:
            return self._by_topology(sig)
        return None

    def _inhibits(self, rule: InhibitRule, view: Mapping[str, str], sources: set[str]) -> bool:
        """Whether one of ``sources`` inhibits a target of ``rule`` with labels ``view``. As in Alertmanager,
        a target that matches the source matchers too is not inhibited by a source that matches the target
        matchers too (two such alerts would mute each other: with ``severity="critical"`` as source and
        ``service="db"`` as target, two critical alerts of the db both stay active)."""
        if not sources or not matches_all(rule.source, view):
            return bool(sources)
        return any(s in self._views and not matches_all(rule.target, self._views[s]) for s in sources)

    def _by_topology(self, sig: Signal) -> str | None:
        for dep, hops in self._dependencies(sig.service).items():
            latest = self._latest_firing(dep)
            # the latest start is the freshest: if it is too old, all of the service's alerts are
            if latest is not None and sig.time - latest[0] <= self.max_lag_s * hops:
                start, what = latest
                return f"inhibited: {sig.service} depends on {dep} ({hops} hop{'s' if hops > 1 else ''}), " \
                       f"which is firing {what} since {sig.time - start:.0f}s before"
        return None

    def _latest_firing(self, service: str) -> tuple[float, str] | None:
        """``(start, text)`` of the service's firing signal that started last (``None`` when none fires)."""
        latest = self._latest.get(service)
        if latest is None:
            firing = self._firing_services.get(service)
            if not firing:
                return None
            latest = self._latest[service] = max((start, what) for what, start in firing.values())
        return latest

    def _dependencies(self, service: str) -> dict[str, int]:
        if self.topology is None:
            return {}
        return self.topology.within(service, self.max_hops)
