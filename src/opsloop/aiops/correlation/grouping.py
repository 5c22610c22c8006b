"""Which incident a new signal belongs to, and why.

Each open incident is a *group*: its services, its labels, its alert fingerprints and its time span.
A new signal is scored against the groups that could possibly match (same fingerprint, same or
neighbouring service, a shared informative label) and joins the best one scoring at least
``min_score``; otherwise it opens a new incident. The score adds up evidence, each piece with its
reason, and fades with the time gap:

* the same alert (fingerprint) again: +4
* the same service, or the same monitored instance (``instance``, ``host``, ``pod``… label), still
  alerting in the incident (its last signal at most ``same_window_s`` before): +3
* a declared dependency path ``d`` hops away: +2.5 × 0.8^(d-1), judged by the direction and timing of
  a cascade (a failure spreads from a service to its callers, one hop after another):

  - the signal's service *depends on* a service of the incident (it may show that failure): counts
    when it comes within ``link_window_s`` per hop of when that service started alerting;
  - the signal's service is a *dependency* of a service of the incident (it may be the cause): counts
    only within ``cause_window_s`` of the incident's first signal. A dependency that starts alerting
    later, while its callers already alert for another reason, is more likely a new root.
* siblings, early in an incident, when no path gives as much: the signal's service and a service of
  the incident depend on one service (each within ``max_hops``; the two on no path to each other),
  and the signal comes within ``sibling_window_s`` of when that service started alerting, at most
  ``sibling_span_s`` after the incident's first signal and while it has fewer than
  ``sibling_max_services`` services: +2 (``sibling_weight``), fading to nothing at twice the window.
  The callers of a failing service often alert before it does (its own "down" rule waits longer),
  and without this each would open its own incident until the cause's alert came
* a late root, when nothing above gives as much: the signal's service is a dependency (within
  ``max_hops``) of at least two thirds of the incident's services (and of two at least), none of
  which accounts for the others (is one of them, or a dependency of all the rest), at most
  ``late_root_span_s`` (5 minutes) after the incident's first signal and while it is open: +2.5
  (``late_root_weight``). A "down" rule with a long ``for:`` fires minutes after its callers' error
  rules; their incident has no alerting root of its own, and this is it
* a learned co-occurrence link: +2.5 × strength, unless the declared topology names both services
  (then it knows they are not on one failure path: services that alert together because they call
  the same failing service are siblings, not a cause and its symptom)
* time proximity, between services the topology names neither of (no declared or traced edge: it
  cannot say whether they are on one failure path): alerting within ``burst_window_s`` of when such a
  service of the incident started alerting: +2 (``burst_weight``), fading to nothing at twice that,
  and only while the incident is open, up to ``burst_span_s`` after its first signal and while it has
  fewer than ``burst_max_services`` services; where a learned link between the two gives less, time
  proximity counts instead (a weak link is no evidence against). With no topology, the storm of
  alerts that opens an incident is one incident as long as each new service joins it soon after
  another started; a steady flow of unrelated alerts from many services does not make one incident
  of all of them. A model's drift or live performance (``model_drift``, ``model_performance``) takes
  no part: two models drifting in the same minute are two incidents (each starts its own retraining
  runbook) unless the topology links them
* shared labels, each weighted by how rare it is among recent signals (``cluster=prod`` on every
  alert weighs nothing; a volume id seen on two signals weighs a lot): 2 × rarity each, up to +2.5

A newer failure beneath: when the best group holds a signal only for its service's earlier signal
there (same service, not the same alert), and another group that also takes it has a dependency of
that service that started alerting since then (within ``link_window_s`` per hop), the signal joins
that one: a service's new symptom follows the newest failure beneath it, not its own older trouble.

An incident that is one alert alone (a flaky check) stays joinable by that same alert for
``first_recur_s`` (an hour), and once the alert has fired again there (it is known to recur) for
``recur_window_s`` (three hours), however long it was quiet: a recurring alert is one cause, not a
new incident at every firing. Later than that, a recurrence is a new incident (which lists the old
one as similar). Not so once an operator resolved the incident (``mark_resolved(...,
by_operator=True)``): a person closed it, so the alert's next occurrence after ``window_s`` is a new
incident, as for any incident. Once an alert has fired alone three times it is a flaky check, and
its incident takes no other alert (a flaky check's firing says nothing about a real failure next to
it). An incident of several alerts takes nothing after ``window_s``.

Times are event times, so a replay groups exactly as live traffic would.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.correlation.topology import Topology
from opsloop.core.signals import Signal, SignalKind

__all__ = ["Correlator", "Decision", "Group", "GroupingConfig"]

# Labels that describe the alert's plumbing, not the thing at fault.
_IGNORED_LABELS = frozenset({"severity", "service", "service_name", "job", "prometheus", "receiver", "monitor",
                             "alertstate", "priority", "team", "env", "environment", "region", "cluster"})


# Labels that name *what* is wrong say little about *where*: two services both slow is weak evidence.
_LABEL_FACTOR = {"alertname": 0.5, "rule": 0.5, "metric": 0.5}

# Firings after which an alert alone in its incident is a recurring (flaky) one.
_RECURRING = 3

# Labels naming one monitored thing: sharing one is as strong as sharing the service.
IDENTITY_LABELS = ("instance", "host", "hostname", "host.name", "pod", "k8s.pod.name", "node", "container_id")
_IDENTITY = frozenset(IDENTITY_LABELS)  # for membership: a tuple is scanned name by name

# Signals time proximity ignores: a model's data and quality drift, which is not an outage's symptom
# (a model's incident starts that model's retraining; another model's signal must not hide in it).
_NOT_PROXIMATE = frozenset({SignalKind.MODEL_DRIFT, SignalKind.MODEL_PERFORMANCE})


@dataclass(frozen=True)
class GroupingConfig:
    """Tunables of grouping.

    Attributes:
        window_s: a signal can join a group whose span it is at most this far from.
        min_score: evidence needed to join rather than open a new incident.
        max_hops: furthest declared dependency counted.
        link_window_s: a failure spreads to a dependent soon after it starts: a dependency link counts
            fully when the signal comes at most this long per hop after the linked service started
            alerting in the incident (its current episode there), and fades to nothing at twice that.
        cause_window_s: the same for a signal of a *dependency* of the incident's services (a possible
            cause), measured from the incident's first signal.
        same_window_s: the same service or instance counts fully when its last signal in the incident
            is at most this old, and fades to nothing at twice that; quieter for longer, its next
            signal starts a new episode of it there.
        recur_window_s: an incident that is one alert alone (a flaky check firing, resolving and firing
            again) takes that alert back up to this long after its last signal once it has fired
            there more than once, unless an operator resolved it; ``0`` to disable.
        first_recur_s: the same for its first recurrence (at most ``recur_window_s``): an alert that
            fired once may come back hours later for a new reason.
        label_cap: most that shared labels add to the score.
        burst_weight: the evidence that a signal of a service the topology does not name belongs to an
            incident where another such service started alerting at most ``burst_window_s`` before
            or after it (fading to nothing at twice that); ``0`` to disable.
        burst_window_s: see ``burst_weight``.
        burst_span_s: time proximity counts for signals at most this long after the incident's first.
        burst_max_services: nor once the incident has this many services (time alone says little in a
            steady flow of alerts from many services).
        sibling_weight: the evidence that a signal belongs to an incident, in its first
            ``sibling_span_s``, where a service that shares a dependency with the signal's (each within
            ``max_hops``, the two not on one path) started alerting at most ``sibling_window_s`` before
            or after it (fading to nothing at twice that); ``0`` to disable.
        sibling_window_s, sibling_span_s: see ``sibling_weight``.
        sibling_max_services: nor once the incident has this many services (in a steady flow of alerts
            from many services, most share some dependency).
        late_root_weight: the evidence that a signal belongs to an incident, at most
            ``late_root_span_s`` after its first signal, whose services mostly depend on the signal's
            service (at least two, and half of them, each within ``max_hops``) while none of them
            accounts for the others: the root of what they show, whose own alert came late; ``0`` to
            disable.
        late_root_span_s: see ``late_root_weight``.
        lateness_s: how far behind the newest signal seen a signal may come and still be grouped as if it
            had come in time (Alertmanager delivers an alert up to a ``group_interval`` after it started,
            while other groups' newer alerts have come): an incident is kept joinable until its last
            signal is this much further behind the newest signal than it can take (``window_s``, or
            its recurrence window), and never after, so when the periodic ``expire`` runs never
            changes a grouping.
        use_labels, use_topology, use_learned: switch evidence kinds off (for ablations).
    """

    window_s: float = 300.0
    min_score: float = 2.0
    max_hops: int = 2
    link_window_s: float = 75.0
    cause_window_s: float = 45.0
    same_window_s: float = 90.0
    recur_window_s: float = 10800.0
    first_recur_s: float = 3600.0
    label_cap: float = 2.5
    burst_weight: float = 2.0
    burst_window_s: float = 60.0
    burst_span_s: float = 300.0
    burst_max_services: int = 20
    sibling_weight: float = 2.0
    sibling_window_s: float = 30.0
    sibling_span_s: float = 60.0
    sibling_max_services: int = 10
    late_root_weight: float = 2.5
    late_root_span_s: float = 300.0
    lateness_s: float = 600.0
    use_labels: bool = True
    use_topology: bool = True
    use_learned: bool = True


@dataclass
class Group:
    id: int
    first: float
    last: float
    services: dict[str, int] = field(default_factory=dict)
    onset: dict[str, float] = field(default_factory=dict)
    # the services with a signal here that time proximity counts (not only a model's drift)
    proximate: set[str] = field(default_factory=set)
    latest: dict[str, float] = field(default_factory=dict)
    label_latest: dict[tuple[str, str], float] = field(default_factory=dict)
    labels: dict[tuple[str, str], int] = field(default_factory=dict)
    fingerprints: set[str] = field(default_factory=set)
    size: int = 0
    resolved: bool = False
    # resolved by an operator (not auto-resolved): a recurrence of its alert is a new incident
    operator_resolved: bool = False

    def quiet(self, service: str, t: float, gap: float) -> bool:
        """Whether a signal of ``service`` at ``t`` starts a new episode of it here (new, or after ``gap``)."""
        last = self.latest.get(service)
        return last is None or t - last > gap

    def add(self, sig: Signal, fp: str, episode_gap_s: float = float("inf")) -> None:
        """Account for a signal; a service quiet here for over ``episode_gap_s`` starts a new episode."""
        self.first = min(self.first, sig.time)
        self.last = max(self.last, sig.time)
        svc, t = sig.service, sig.time
        if svc:
            self.services[svc] = self.services.get(svc, 0) + 1
            last = self.latest.get(svc)
            if last is None or t - last > episode_gap_s:  # ``quiet``: a new episode of the service here
                self.onset[svc] = t
                self.latest[svc] = t if last is None else max(last, t)
            else:
                self.onset[svc] = min(self.onset[svc], t)
                self.latest[svc] = max(last, t)
            if sig.kind not in _NOT_PROXIMATE:
                self.proximate.add(svc)
        for kv in sig.labels.items():
            if kv[0] not in _IGNORED_LABELS:
                self.labels[kv] = self.labels.get(kv, 0) + 1
                if kv[0] in _IDENTITY:
                    self.label_latest[kv] = max(self.label_latest.get(kv, sig.time), sig.time)
        self.fingerprints.add(fp)
        self.size += 1


_Link = tuple[float, str, bool, int]
# a link to another service and its name: ``(*_Link, other)``
_Ordered = tuple[float, str, bool, int, str]

# Services whose declared surroundings a correlator keeps (more are forgotten and recomputed).
_MAX_REACHES = 10_000


@dataclass(slots=True)
class _Reach:
    """A service's declared surroundings, kept across decisions while the declared topology stands."""

    # the topology's distance maps of the service (it replaces them when the declared edges change)
    down: dict[str, int]
    up: dict[str, int]
    # ``set(down) | set(up)``: ``Topology.neighbours`` of the service when none is learned
    near: set[str]
    # ``near | set()``: the services a decision links to when none is learned
    linked: set[str]
    # ``_link(service, other)`` for the others on a declared path (learned links change as they learn)
    links: dict[str, _Link] = field(default_factory=dict)
    # the links to ``linked``, strongest first (``_Ctx.ordered``), once asked for
    ordered: list[_Ordered] | None = None
    # the services sharing a dependency with this one (not on a path with it), each with the nearest
    # such dependency (on a tie the first in name order); once asked for
    siblings: dict[str, str] | None = None


@dataclass(slots=True)
class _Ctx:
    """What scoring needs of one signal, computed once per ``decide`` and shared by its candidates."""

    service: str
    paths: tuple[dict[str, int], dict[str, int], set[str]]
    linked: set[str]
    # the rarity of the signal's informative labels, and their weights as evidence (those over 0.05)
    rarity: dict[tuple[str, str], float]
    weights: dict[tuple[str, str], float]
    # the signal's identity labels present (in ``IDENTITY_LABELS`` order)
    identity: tuple[tuple[str, str], ...]
    # links along declared paths, shared by every decision about this service
    declared: dict[str, _Link]
    # ``Topology.neighbours(service, max_hops)`` when known without asking it (else ``None``)
    near: set[str] | None
    # the service's declared surroundings
    reach: _Reach
    # the topology does not name the service, and the signal is not a model's drift (time proximity
    # counts: ``Correlator._burst``)
    unnamed: bool
    # the other links, filled on first use (the topology does not change during a decision)
    links: dict[str, _Link] = field(default_factory=dict)
    strongest: list[_Ordered] | None = None

    def link(self, correlator: Correlator, other: str) -> _Link:
        """``correlator._link(self.service, other, self.paths)``, computed once per other service."""
        found = self.declared.get(other)
        if found is None:
            found = self.links.get(other)
            if found is None:
                found = self.links[other] = correlator._link(self.service, other, self.paths)
                if other in self.paths[0] or other in self.paths[1]:
                    self.declared[other] = found
        return found

    def ordered(self, correlator: Correlator) -> list[_Ordered]:
        """The links to ``linked`` that count, strongest first, then in name order; kept with the
        service's surroundings while only declared links count (they change with the declared
        topology alone), else computed for this decision."""
        found = self.strongest
        if found is None:
            reach = self.reach
            found = reach.ordered if self.linked is reach.linked else None
            if found is None:
                found = sorted(((*self.link(correlator, other), other) for other in self.linked),
                               key=lambda x: (-x[0], x[4]))
                found = [x for x in found if x[0] > 0]
                if self.linked is reach.linked:
                    reach.ordered = found
            self.strongest = found
        return found


# A reason kept unformatted until shown: a function making its text, then its arguments. Only the
# winning group's reasons are ever shown, so the others' are never formatted (see ``_text``).
_Why = tuple[Any, ...]
_NO_WHY: _Why = ()
_SAME_ALERT = "the same alert fired again".format
_GAP = "{:.0f}s from the incident's other signals".format
_RECURRED = ("the same alert fired again, {:.0f} min after its last signal "
             "(a recurring alert, alone in this incident)").format
_SAME_SERVICE = "same service {}, {:.0f}s after its last signal".format
_SAME_THING = "same {} {}, {:.0f}s after its last signal".format
_NEWER_CAUSE = ("{} alerted in incident {} {:.0f}s before; since then its dependency {} started alerting "
                "here ({:.0f}s before): the newer failure beneath it").format
_CASCADE = "{}, {:.0f}s after {}".format
_BURST = "{:.0f}s from when {} started alerting (no known dependency: time proximity)".format
_SIBLING = "{} and {} both depend on {} (siblings), {:.0f}s after {} started alerting".format
_LATE_ROOT = ("{} is a dependency of {} of the incident's {} services ({}), none of which accounts for "
              "the others: their root, alerting {:.0f}s after the incident started").format
_SHARES_ONE = "shares labels {}={}".format


def _shares(shared: list[tuple[tuple[str, str], float]]) -> str:
    """The reason for several shared labels: the four weighing most."""
    return "shares labels " + ", ".join(f"{k}={v}" for (k, v), _ in sorted(shared, key=lambda x: -x[1])[:4])


def _text(reasons: list[_Why]) -> list[str]:
    return [why[0](*why[1:]) for why in reasons]


@dataclass
class Decision:
    """Where a signal goes: ``group_id`` (``None`` = open a new incident), the score and the reasons."""

    group_id: int | None
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    reopen: bool = False


class Correlator:
    """In-memory view of open incidents; ``decide`` then ``add`` for each signal, in event-time order."""

    def __init__(self, topology: Topology | None = None, config: GroupingConfig | None = None) -> None:
        self.topology = topology or Topology()
        self.config = config or GroupingConfig()
        self.groups: dict[int, Group] = {}
        self._by_service: dict[str, set[int]] = defaultdict(set)
        self._by_fp: dict[str, set[int]] = defaultdict(set)
        self._by_label: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._df: dict[tuple[str, str], int] = defaultdict(int)
        self._reaches: dict[str, _Reach] = {}
        self._n = 0
        self._now = 0.0

    # --- label rarity ------------------------------------------------------------------------
    def _observe_labels(self, sig: Signal) -> None:
        self._n += 1
        for kv in sig.labels.items():
            if kv[0] not in _IGNORED_LABELS:
                self._df[kv] += 1
        if len(self._df) > 200_000:  # bound memory: forget the rarest-seen half
            keep = sorted(self._df.items(), key=lambda x: -x[1])[:100_000]
            self._df = defaultdict(int, keep)

    # --- deciding ----------------------------------------------------------------------------
    def _candidates(self, sig: Signal, fp: str, ctx: _Ctx) -> set[int]:
        """The groups ``sig`` could join."""
        out = set(self._by_fp.get(fp, ()))
        svc = sig.service
        if svc:
            out |= self._by_service.get(svc, set())
            if self.config.use_topology or self.config.use_learned:
                near = ctx.near
                for other in self.topology.neighbours(svc, self.config.max_hops) if near is None else near:
                    ids = self._by_service.get(other)
                    if ids:
                        out |= ids
        cfg = self.config
        if cfg.sibling_weight > 0 and cfg.use_topology and svc:  # siblings: incidents that started lately
            young = sig.time - cfg.sibling_span_s
            fresh = [(gid, g) for gid, g in self.groups.items()
                     if g.first >= young and len(g.services) < cfg.sibling_max_services and gid not in out]
            if fresh:
                siblings = self._siblings_of(ctx)
                out.update(gid for gid, g in fresh if any(s in siblings for s in g.services))
        if ctx.unnamed and cfg.burst_weight > 0:  # time proximity: incidents active lately
            t = sig.time
            horizon, young = t - 2 * cfg.burst_window_s, t - cfg.burst_span_s
            out.update(gid for gid, g in self.groups.items() if g.last >= horizon and g.first >= young)
        if self.config.use_labels:
            for kv in sig.labels.items():
                ids = self._by_label.get(kv)
                # an indexed label is informative, so its rarity is known unless it is an identity
                if ids and len(ids) < 50 and (kv[0] in _IDENTITY or ctx.rarity[kv] > 0.3):
                    out |= ids
        return out

    def _paths(self, svc: str) -> tuple[dict[str, int], dict[str, int], set[str]]:
        """Services ``svc`` depends on, services depending on it (with hops), and learned partners."""
        hops = self.config.max_hops
        down = self.topology._reach(svc, hops, True) if self.config.use_topology else {}
        up = self.topology._reach(svc, hops, False) if self.config.use_topology else {}
        learned = self.topology.learned_partners(svc) if self.config.use_learned else set()
        return down, up, learned

    def _link(self, a: str, b: str, paths: tuple[dict[str, int], dict[str, int], set[str]] | None = None
              ) -> _Link:
        """Evidence that ``a`` and ``b`` fail together: weight, reason, whether ``a`` is downstream
        (a dependency of ``b``, so possibly the cause of what ``b`` shows) rather than a dependent, and
        the hops between them (1 for a learned link)."""
        down, up_, learned = paths or self._paths(a)
        shows, causes = down.get(b), up_.get(b)  # a depends on b: a shows b's failure; b on a: a may cause it
        if shows or causes:
            d = min(x for x in (shows, causes) if x)
            cause = not shows or (causes is not None and causes < shows)
            how = ("is a dependency of" if cause else "depends on") + (f" ({d} hops)" if d > 1 else "")
            return 2.5 * 0.8 ** (d - 1), f"{a} {how} {b} ({self.topology.source_of(a, b, d)})", cause, d
        if b in learned and not (self.config.use_topology and self.topology.knows(a) and self.topology.knows(b)):
            s = self.topology.learned_strength(a, b)
            if s > 0:
                return 2.5 * s, f"{a} and {b} alert together (learned, strength {s:.2f})", False, 1
        return 0.0, "", False, 0

    def score(self, sig: Signal, fp: str, g: Group, ctx: _Ctx | None = None) -> tuple[float, list[str]]:
        """The evidence that ``sig`` belongs to ``g``, and its reasons."""
        score, reasons = self._evidence(sig, fp, g, ctx or self._ctx(sig))
        return score, _text(reasons)

    def _evidence(self, sig: Signal, fp: str, g: Group, ctx: _Ctx) -> tuple[float, list[_Why]]:
        """``score`` with its reasons not yet formatted."""
        cfg = self.config
        gap = max(0.0, sig.time - g.last, g.first - sig.time)
        fps = g.fingerprints
        if len(fps) == 1 and (fp in fps or g.size >= _RECURRING):
            return self._recurring(fp, g, gap)
        if gap > cfg.window_s:
            return 0.0, []
        score = 0.0
        reasons: list[_Why] = []
        if fp in fps:
            score += 4.0
            reasons.append((_SAME_ALERT,))
        w, why = self._where(sig, g, ctx)
        if w > 0:
            score += w
            reasons.append(why)
        if cfg.use_labels:
            w, why = self._shared(g, ctx)
            if w > 0:
                score += w
                reasons.append(why)
        half = cfg.window_s / 2
        if gap > half:
            score *= max(0.0, 1.0 - (gap - half) / half)
        if reasons:
            reasons.append((_GAP, gap))
        return score, reasons

    def _where(self, sig: Signal, g: Group, ctx: _Ctx) -> tuple[float, _Why]:
        """Where the signal comes from: the same service or instance, else a dependency path (or
        siblings early in the incident), else time proximity."""
        w, why = self._same_place(sig, g, ctx)
        if w > 0 or not sig.service:
            return w, why
        cfg = self.config
        w, why = self._cascade(sig.time, g, ctx)
        if w < cfg.sibling_weight and sig.time - g.first <= cfg.sibling_span_s and \
                len(g.services) < cfg.sibling_max_services:
            w2, why2 = self._sibling(sig.time, g, ctx)
            if w2 > w:
                w, why = w2, why2
        if w < cfg.late_root_weight and sig.time - g.first <= cfg.late_root_span_s and not g.resolved:
            w2, why2 = self._late_root(sig.time, g, ctx)
            if w2 > w:
                w, why = w2, why2
        if w < cfg.burst_weight and ctx.unnamed:
            w2, why2 = self._burst(sig, g)
            if w2 > w:
                w, why = w2, why2
        return w, why

    def _recurring(self, fp: str, g: Group, gap: float) -> tuple[float, list[_Why]]:
        """An incident that is one alert alone takes that alert back within its recurrence window (only
        within ``window_s`` once an operator resolved it); once that alert has recurred a few times, it
        is a flaky check and its incident takes nothing else."""
        if fp not in g.fingerprints:
            return 0.0, []
        if gap <= self.config.window_s:
            return 4.0, [(_SAME_ALERT,), (_GAP, gap)]
        if gap <= self._recur_window(g):
            return 4.0, [(_RECURRED, gap / 60)]
        return 0.0, []

    def _recur_window(self, g: Group) -> float:
        """How long after its last signal a one-alert incident takes that alert back."""
        if g.operator_resolved:
            return 0.0
        cfg = self.config
        return cfg.recur_window_s if g.size > 1 else min(cfg.first_recur_s, cfg.recur_window_s)

    def _ctx(self, sig: Signal) -> _Ctx:
        """What scoring needs of a signal, computed once for all candidate groups."""
        paths = self._paths(sig.service) if sig.service else ({}, {}, set())
        reach = self._reach(sig.service, paths)
        linked = set(paths[0]) | set(paths[1]) | paths[2] if paths[2] else reach.linked
        rarity: dict[tuple[str, str], float] = {}
        weights = {}
        if self.config.use_labels:
            # rarity in [0, 1]: 1 for a label seen on one signal, 0 for one seen on all
            n = self._n + 10  # ten pseudo-signals without the label: few signals prove little
            log_n, df = math.log(n), self._df
            for kv in sig.labels.items():
                if kv[0] not in _IDENTITY and kv[0] not in _IGNORED_LABELS:
                    r = rarity[kv] = max(0.0, math.log(n / (df.get(kv, 0) + 1)) / log_n)
                    w = r * _LABEL_FACTOR.get(kv[0], 1.0)
                    if w > 0.05:
                        weights[kv] = w
        identity = tuple([(k, v) for k in IDENTITY_LABELS if (v := sig.labels.get(k))])
        # with nothing learned and the declared topology in use, the neighbours are the declared ones
        near = reach.near if self.config.use_topology and not self.topology.learned_partners(sig.service) else None
        unnamed = bool(sig.service) and sig.kind not in _NOT_PROXIMATE and \
            not (self.config.use_topology and self.topology.knows(sig.service))
        return _Ctx(sig.service, paths, linked, rarity, weights, identity, reach.links, near, reach, unnamed)

    def _reach(self, service: str, paths: tuple[dict[str, int], dict[str, int], set[str]]) -> _Reach:
        """The service's declared surroundings, anew when the topology's distance maps changed."""
        reach = self._reaches.get(service)
        if reach is None or reach.down is not paths[0] or reach.up is not paths[1]:
            if len(self._reaches) >= _MAX_REACHES:
                self._reaches.clear()
            near = set(paths[0]) | set(paths[1])
            reach = self._reaches[service] = _Reach(paths[0], paths[1], near, near | set())
        return reach

    def _same_place(self, sig: Signal, g: Group, ctx: _Ctx) -> tuple[float, _Why]:
        """The same service, or the same monitored instance, still alerting in the incident."""
        svc, window = sig.service, self.config.same_window_s
        if svc and svc in g.services:
            lag = abs(sig.time - g.latest.get(svc, g.last))
            w = 3.0 if lag <= window else 3.0 * self._fade(lag, window)
            if w >= 2.0:
                return w, (_SAME_SERVICE, svc, lag)
        for kv in ctx.identity:
            if kv in g.labels:
                lag = abs(sig.time - g.label_latest.get(kv, g.last))
                w = 3.0 if lag <= window else 3.0 * self._fade(lag, window)
                if w >= 2.0:
                    return w, (_SAME_THING, kv[0], kv[1], lag)
        return 0.0, _NO_WHY

    def _cascade(self, t: float, g: Group, ctx: _Ctx) -> tuple[float, _Why]:
        """Evidence from a dependency path to a service of the incident, judged by direction and timing.

        A dependent shows a failure soon after its dependency starts failing: within ``link_window_s``
        per hop of when that service started alerting here. A dependency that is the cause alerts
        before, or just after, the first symptoms: within ``cause_window_s`` of the incident's start;
        later, it is more likely a new root than the cause of what its callers already show.

        The strongest link wins, on a tie the service first in name order. The signal's links come
        strongest first (``_Ctx.ordered``), so the search stops at the first one too weak to win.
        """
        best, best_other, why = 0.0, "", _NO_WHY
        services, cfg = g.services, self.config
        for link in ctx.ordered(self):
            base, text, cause, hops, other = link
            if base < best:
                break
            if other not in services:
                continue
            if cause:
                lag, window, when = abs(t - g.first), cfg.cause_window_s, "the incident started"
            else:
                lag = abs(t - g.onset.get(other, g.first))
                window, when = cfg.link_window_s * hops, "it started alerting"
            w = base if lag <= window else base * max(0.0, 2.0 - lag / window)  # ``_fade``, inline
            if w > best or (w == best and w > 0.0 and other < best_other):
                best, best_other, why = w, other, (_CASCADE, text, lag, when)
        return best, why

    def _sibling(self, t: float, g: Group, ctx: _Ctx) -> tuple[float, _Why]:
        """A service of the incident that shares a dependency with the signal's service, and started
        alerting soon before or after the signal; the nearest onset counts, on a tie the service first
        in name order."""
        siblings = self._siblings_of(ctx)
        lag, other = min(((abs(t - g.onset.get(s, g.first)), s) for s in g.services if s in siblings),
                         default=(math.inf, ""))
        w = self.config.sibling_weight * self._fade(lag, self.config.sibling_window_s)
        if w <= 0:
            return 0.0, _NO_WHY
        return w, (_SIBLING, ctx.service, other, siblings[other], lag, other)

    def _siblings_of(self, ctx: _Ctx) -> dict[str, str]:
        """The services that depend on a dependency of the signal's service (each within ``max_hops``)
        and are on no path with it, each with the nearest shared dependency (on a tie the first in
        name order); kept with the service's declared surroundings."""
        reach = ctx.reach
        if reach.siblings is not None:
            return reach.siblings
        service, hops, out = ctx.service, self.config.max_hops, {}
        for dep in sorted(reach.down, key=lambda d: (reach.down[d], d)):
            for other in self.topology._reach(dep, hops, False):
                if other != service and other not in reach.near and other not in out:
                    out[other] = dep
        reach.siblings = out
        return out

    def _late_root(self, t: float, g: Group, ctx: _Ctx) -> tuple[float, _Why]:
        """The signal's service is the dependency that most of the incident's services share (at least
        two, and half of them), and no service of the incident accounts for those (each of them is it
        or depends on it): the root, alerting late."""
        services, up, hops = g.services, ctx.reach.up, self.config.max_hops
        if len(services) < 2 or ctx.service in services:
            return 0.0, _NO_WHY
        theirs = [s for s in services if s in up]
        if len(theirs) < max(2, math.ceil(2 * len(services) / 3)):
            return 0.0, _NO_WHY
        if any(self.topology.explains(a, theirs, hops) for a in services):
            return 0.0, _NO_WHY  # a service of the incident accounts for them: the signal's is no better a root
        return self.config.late_root_weight, (_LATE_ROOT, ctx.service, len(theirs), len(services),
                                              ", ".join(sorted(theirs)[:3]) + (", …" if len(theirs) > 3 else ""),
                                              t - g.first)

    def _burst(self, sig: Signal, g: Group) -> tuple[float, _Why]:
        """Time proximity: the signal's service (which the topology does not name) alerting soon before
        or after another service the topology does not name started alerting in the incident; the
        nearest onset counts, on a tie the service first in name order."""
        t, svc = sig.time, sig.service
        cfg = self.config
        if g.resolved or t - g.first > cfg.burst_span_s or len(g.services) >= cfg.burst_max_services:
            return 0.0, _NO_WHY
        named = self.topology.knows if cfg.use_topology else _named_none
        lag, other = min(((abs(t - onset), name) for name, onset in g.onset.items()
                          if name != svc and name in g.proximate and not named(name)), default=(math.inf, ""))
        w = cfg.burst_weight * self._fade(lag, cfg.burst_window_s)
        return (w, (_BURST, lag, other)) if w > 0 else (0.0, _NO_WHY)

    @staticmethod
    def _fade(lag: float, window: float) -> float:
        """1 up to ``window``, falling to 0 at twice that."""
        return 1.0 if lag <= window else max(0.0, 2.0 - lag / window)

    def _shared(self, g: Group, ctx: _Ctx) -> tuple[float, _Why]:
        labels = g.labels
        shared = [(kv, w) for kv, w in ctx.weights.items() if kv in labels]
        if not shared:
            return 0.0, _NO_WHY
        if len(shared) == 1:  # the common case: no ranking to do
            (k, v), w = shared[0]
            return min(self.config.label_cap, 2.0 * w), (_SHARES_ONE, k, v)
        return min(self.config.label_cap, 2.0 * sum(w for _, w in shared)), (_shares, shared)

    def decide(self, sig: Signal, fp: str | None = None) -> Decision:
        """The group this signal should join (or ``None``); does not change any state."""
        fp = fp or sig.fingerprint()
        min_score, groups = self.config.min_score, self.groups
        best: Group | None = None
        best_key: tuple[float, float, int] = (0.0, 0.0, 0)
        best_why: list[_Why] = []
        passing: list[tuple[Group, float, list[_Why]]] = []
        ctx = self._ctx(sig)
        for gid in self._candidates(sig, fp, ctx):
            g = groups.get(gid)
            if g is None or self._stale(g, self._now):  # as if ``expire`` had just run
                continue
            s, why = self._evidence(sig, fp, g, ctx)
            if s < min_score:
                continue
            passing.append((g, s, why))
            # the best score; on a tie the incident active last, then the oldest: never the set's order
            key = (s, g.last, -gid)
            if best is None or key > best_key:
                best, best_key, best_why = g, key, why
        if best is None:
            return Decision(None)
        if best_why and best_why[0][0] is _SAME_SERVICE and len(passing) > 1:
            newer = self._newer_cause(sig, best, passing, ctx)
            if newer is not None:
                return newer
        return Decision(-best_key[2], best_key[0], _text(best_why), reopen=best.resolved)

    def _newer_cause(self, sig: Signal, g: Group, passing: list[tuple[Group, float, list[_Why]]], ctx: _Ctx
                     ) -> Decision | None:
        """The incident where a dependency of the signal's service started alerting since that service's
        last signal in ``g`` (which holds the signal only for that earlier signal), within
        ``link_window_s`` per hop: a new symptom of a service follows the newest failure beneath it,
        not its own older trouble. Of several, the dependency that started last; ``None`` if none."""
        svc, t, window = sig.service, sig.time, self.config.link_window_s
        since = g.latest.get(svc, g.last)
        found, found_onset, dep = None, -math.inf, ""
        for candidate in passing:
            h = candidate[0]
            if h is g:
                continue
            for d, hops in ctx.paths[0].items():  # the services ``svc`` depends on
                onset = h.onset.get(d)
                if onset is not None and since < onset <= t and t - onset <= window * hops and onset > found_onset:
                    found, found_onset, dep = candidate, onset, d
        if found is None:
            return None
        h, score, why = found
        reason = (_NEWER_CAUSE, svc, g.id, t - since, dep, t - found_onset)
        return Decision(h.id, score, _text([reason, *why]), reopen=h.resolved)

    # --- state -------------------------------------------------------------------------------
    def observe(self, sig: Signal) -> None:
        """Account for a signal in label rarity and co-occurrence learning (call once per new signal)."""
        self._observe_labels(sig)
        self.topology.observe(sig.service, sig.time)
        self._now = max(self._now, sig.time)

    def add(self, group_id: int, sig: Signal, fp: str | None = None) -> Group:
        fp = fp or sig.fingerprint()
        g = self.groups.get(group_id)
        if g is None:
            g = self.groups[group_id] = Group(group_id, sig.time, sig.time)
        g.add(sig, fp, self.config.same_window_s)
        g.resolved = g.operator_resolved = False
        if sig.service:
            self._by_service[sig.service].add(group_id)
        self._by_fp[fp].add(group_id)
        for kv in sig.labels.items():
            if kv[0] not in _IGNORED_LABELS:
                self._by_label[kv].add(group_id)
        return g

    def mark_resolved(self, group_id: int, t: float | None = None, *, by_operator: bool = False) -> None:
        """The incident was resolved, at ``t`` (its last signal's end) if given; ``by_operator`` when a
        person resolved it rather than auto-resolve: its alert's recurrences then open a new incident.
        A ``t`` at most ``window_s`` after its last signal extends its span (the trouble back soon after a
        brief incident stopped is that incident again); later, after an incident that went on firing with
        nothing new, a recurrence is a new fault."""
        g = self.groups.get(group_id)
        if g is not None:
            g.resolved = True
            g.operator_resolved = by_operator
            if t is not None and t - g.last <= self.config.window_s:
                g.last = max(g.last, t)

    def remove(self, group_id: int) -> None:
        g = self.groups.pop(group_id, None)
        if g is None:
            return
        for svc in g.services:
            self._by_service.get(svc, set()).discard(group_id)
        for fp in g.fingerprints:
            self._by_fp.get(fp, set()).discard(group_id)
        for kv in g.labels:
            self._by_label.get(kv, set()).discard(group_id)

    def rebuild(self, group_id: int, signals: Iterable[tuple[Signal, str]], resolved: bool = False, *,
                by_operator: bool = False) -> None:
        """Replace a group's content (after a merge or split, or at start); ``resolved`` and
        ``by_operator`` as for ``mark_resolved``."""
        self.remove(group_id)
        for sig, fp in signals:
            self.add(group_id, sig, fp)
        if resolved:
            self.mark_resolved(group_id, by_operator=by_operator)

    def _stale(self, g: Group, now: float) -> bool:
        """Whether no signal can join ``g`` any more, ``now`` being the newest signal's time."""
        keep = self.config.window_s
        if len(g.fingerprints) == 1:
            keep = max(keep, self._recur_window(g))
        return now - g.last > keep + self.config.lateness_s

    def expire(self, now: float | None = None) -> int:
        """Forget groups no signal can join any more; returns how many."""
        t = self._now if now is None else now
        old = [gid for gid, g in self.groups.items() if self._stale(g, t)]
        for gid in old:
            self.remove(gid)
        _drop_empty(self._by_service)
        _drop_empty(self._by_fp)
        _drop_empty(self._by_label)
        return len(old)


def _named_none(service: str) -> bool:
    return False


def _drop_empty(index: dict[Any, Any]) -> None:
    """Remove the keys whose group sets have emptied."""
    for key in [k for k, v in index.items() if not v]:
        del index[key]
