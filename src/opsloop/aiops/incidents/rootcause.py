"""Probable root causes of an incident: which of its services most likely failed first and why.

Every service with a signal in the incident is a candidate, and so is a service with a recent change
(a deploy or a config change: an ``event`` signal) that the alerting services depend on. So is one
*silent* service: with no signal in the incident, the one that most alerting services depend on (at
least two, and half of them), unless an alerting service accounts for all of those (it is one of them,
or they depend on it): a failing service's callers often alert before it does, or it has no alert
rule at all. It is never ranked first (the incident's evidence is its alerts), so it shows in the
ranking as the place to look next. Each candidate gathers evidence, each piece with its reason:

* *it explains the others*: the share of the other alerting services that depend on it (within
  ``max_hops`` of the declared topology), up to +3. A failure spreads from a service to its callers,
  so the root is the service most of the incident sits on, whenever its callers started alerting: a
  root's own alert often waits longer (a "down" rule with a ``for:`` of minutes) than its callers'
  symptoms. Alert order is the evidence below.
* *it is explained*: it depends on an alerting service that started alerting before it (within
  ``tolerance_s``): −2 × the share of its alerting dependencies that did. A caller of a failing
  service shows the failure, it does not cause it.
* *it came first*: by when it started alerting among the incident's services, from +1.5 for the
  first to 0 for the last.
* *it changed*: a deploy or config change on it within ``change_lookback_s`` before it (or, for a
  service that did not alert, the incident) started alerting: +2.5, less the older the change.

The ranking needs no training and shows its reasons. Severity is not evidence: a root cause is
often a warning, and a symptom a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.correlation.topology import Topology

__all__ = ["Cause", "RootCauseConfig", "rank_root_causes"]

_CHANGE = "event"  # the signal kind of deploys, config changes and other context


@dataclass(frozen=True)
class RootCauseConfig:
    """Tunables of the ranking.

    Attributes:
        max_hops: furthest declared dependency counted.
        tolerance_s: a dependency that started alerting at most this much after a service still
            counts as alerting before it (alert timestamps jitter by scrape and rule intervals).
        change_lookback_s: how long before a service started alerting a change to it counts.
        limit: most causes returned.
    """

    max_hops: int = 3
    tolerance_s: float = 30.0
    change_lookback_s: float = 3600.0
    limit: int = 5


@dataclass
class Cause:
    """A probable root cause: a service, its score (evidence summed) and the reasons."""

    service: str
    score: float
    reasons: list[str] = field(default_factory=list)
    first_signal_at: float | None = None
    signals: int = 0
    # the service's earliest signal in the incident (``None`` for a change-only candidate)
    signal_id: int | None = None
    change_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "score": round(self.score, 3), "reasons": self.reasons,
                "first_signal_at": self.first_signal_at, "signals": self.signals, "signal_id": self.signal_id,
                "change_id": self.change_id}


@dataclass
class _Service:
    onset: float
    signals: int
    first_id: int | None


def _alerting(signals: Iterable[Mapping[str, Any]]) -> dict[str, _Service]:
    """Each service with a non-context signal: when it started alerting, how many signals, the first."""
    out: dict[str, _Service] = {}
    for s in signals:
        svc = s.get("service") or ""
        if not svc or s.get("kind") == _CHANGE:
            continue
        t = float(s["time"])
        cur = out.get(svc)
        if cur is None:
            out[svc] = _Service(t, int(s.get("count") or 1), s.get("id"))
        else:
            cur.signals += int(s.get("count") or 1)
            if t < cur.onset:
                cur.onset, cur.first_id = t, s.get("id")
    return out


def _changes_by_service(changes: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The ``event`` signals per service, each once (an incident's own events are also among those around it)."""
    by: dict[str, list[Mapping[str, Any]]] = {}
    seen: set[Any] = set()
    for c in changes:
        if c.get("kind") == _CHANGE and c.get("service") and (c.get("id") is None or c["id"] not in seen):
            seen.add(c.get("id"))
            by.setdefault(c["service"], []).append(c)
    return by


def rank_root_causes(signals: Iterable[Mapping[str, Any]], topology: Topology,
                     changes: Iterable[Mapping[str, Any]] = (), config: RootCauseConfig | None = None
                     ) -> list[Cause]:
    """The incident's probable root causes, most probable first.

    ``signals`` are the incident's stored signals (``time``, ``service``, ``kind``, ``count``, ``id``);
    ``changes`` are ``event`` signals around it, of any service (its own events count too).
    """
    cfg = config or RootCauseConfig()
    signals = list(signals)
    alerting = _alerting(signals)
    if not alerting:
        return []
    start = min(a.onset for a in alerting.values())
    by_change = _changes_by_service([*signals, *changes])
    # a changed service the alerting ones depend on is a candidate even if it did not alert
    candidates = dict.fromkeys(sorted(alerting, key=lambda s: (alerting[s].onset, s)))
    for svc in sorted(by_change):
        if svc not in candidates and any(svc in topology.within(a, cfg.max_hops) for a in alerting):
            candidates[svc] = None
    silent = _silent(alerting, candidates, topology, cfg)
    if silent is not None:
        candidates[silent] = None
    order = {svc: i for i, svc in enumerate(sorted(alerting, key=lambda s: (alerting[s].onset, s)))}
    causes = [_evidence(svc, alerting, order, by_change.get(svc, ()), start, topology, cfg) for svc in candidates]
    causes.sort(key=lambda c: (-c.score, c.first_signal_at if c.first_signal_at is not None else float("inf"),
                               c.service))
    if causes and causes[0].service == silent and len(causes) > 1:
        causes[0], causes[1] = causes[1], causes[0]  # never first: the incident's evidence is its alerts
    return causes[: cfg.limit]


def _silent(alerting: dict[str, _Service], candidates: Mapping[str, None], topology: Topology,
            cfg: RootCauseConfig) -> str | None:
    """The service with no signal here that most alerting services depend on (at least two, and half
    of them; on a tie the first in name order), unless an alerting service accounts for all of those."""
    if len(alerting) < 2:
        return None
    below: dict[str, int] = {}
    for a in alerting:
        for dep in topology.within(a, cfg.max_hops):
            if dep not in alerting and dep not in candidates:
                below[dep] = below.get(dep, 0) + 1
    need = max(2, (len(alerting) + 1) // 2)
    for dep in sorted((d for d, n in below.items() if n >= need), key=lambda d: (-below[d], d)):
        theirs = {o for o in topology.dependents(dep, cfg.max_hops) if o in alerting}
        if not any(topology.explains(a, theirs, cfg.max_hops) for a in alerting):
            return dep
    return None


def _evidence(svc: str, alerting: dict[str, _Service], order: dict[str, int], changes: Iterable[Mapping[str, Any]],
              start: float, topology: Topology, cfg: RootCauseConfig) -> Cause:
    me = alerting.get(svc)
    onset = me.onset if me is not None else start
    cause = Cause(svc, 0.0, first_signal_at=me.onset if me else None, signals=me.signals if me else 0,
                  signal_id=me.first_id if me else None)
    others = [o for o in alerting if o != svc]
    if others:
        callers = topology.dependents(svc, cfg.max_hops)
        dependents = [o for o in others if o in callers]
        if dependents:
            cause.score += 3.0 * len(dependents) / len(others)
            early = [o for o in dependents if alerting[o].onset + cfg.tolerance_s < onset]
            share, names = f"{len(dependents)} of the {len(others)} other alerting services depend on it", _names(dependents)
            if me is None:
                cause.reasons.append(f"{len(dependents)} of the {len(others)} alerting services depend on it ({names}); "
                                     "no alert of its own in this incident")
            elif early:
                cause.reasons.append(f"{share} ({names}); {len(early)} of them alerted before it: its own alert may come late")
            else:
                cause.reasons.append(f"{share} and alerted after it ({names})")
        deps = topology.within(svc, cfg.max_hops)
        alerting_deps = [o for o in others if o in deps]
        earlier = [o for o in alerting_deps if alerting[o].onset <= onset + cfg.tolerance_s]
        if me is not None and earlier:
            w = 2.0 * len(earlier) / len(alerting_deps)
            cause.score -= w
            first = min(earlier, key=lambda o: (alerting[o].onset, o))
            lead = onset - alerting[first].onset
            when = (f"alerting since {lead:.0f}s before it" if lead >= 0.5 else
                    f"alerting {-lead:.0f}s after it (within {cfg.tolerance_s:.0f}s: alert times jitter)"
                    if lead <= -0.5 else "alerting at the same time")
            cause.reasons.append(f"it depends on {_names(earlier)}, {when} (a symptom?)")
        if me is not None and len(order) > 1:
            w = 1.5 * (1.0 - order[svc] / (len(order) - 1))
            if w > 0:
                cause.score += w
                rank = order[svc] + 1
                cause.reasons.append("first to alert" if rank == 1 else
                                     f"{_ordinal(rank)} of {len(order)} services to alert, "
                                     f"{onset - start:.0f}s after the first")
    _change(cause, changes, onset, cfg)
    return cause


def _change(cause: Cause, changes: Iterable[Mapping[str, Any]], onset: float, cfg: RootCauseConfig) -> None:
    """The latest change to the service before it started alerting, fading over the lookback."""
    before = [c for c in changes if onset - cfg.change_lookback_s <= float(c["time"]) <= onset + cfg.tolerance_s]
    if not before:
        return
    c = max(before, key=lambda c: (float(c["time"]), c.get("id") or 0))
    age = max(0.0, onset - float(c["time"]))
    cause.score += 2.5 * (1.0 - 0.5 * age / cfg.change_lookback_s)
    text = (c.get("text") or "a change")[:120]
    cause.reasons.append(f"changed {age / 60:.0f} min before it alerted: {text}" if age >= 60
                         else f"changed {age:.0f}s before it alerted: {text}")
    cause.change_id = c.get("id")


def _names(services: list[str], k: int = 3) -> str:
    shown = ", ".join(sorted(services)[:k])
    return shown + (f" and {len(services) - k} more" if len(services) > k else "")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
