"""The service dependency graph: declared (a file or the API) and learned from co-occurrence.

An edge ``a -> b`` means *a depends on b* (a calls b), so a fault in ``b`` shows up in ``a``.
Declared edges are trusted, and so are edges observed in traces (``set_traced``): paths and distances
run over both; learned edges come from services whose alert episodes keep starting close
together in time, and count once their support and strength pass thresholds.

Declared topology file (YAML or JSON)::

    services:
      checkout: [payments, cart]      # checkout depends on payments and cart
      payments: [postgres]
    # or
    edges:
      - {source: checkout, target: payments}

A self-edge (``checkout: [checkout]``) says nothing about how a fault spreads, and topologies
exported from traces often hold them (a service calling itself), so it is not an error: it is left
out, and ``self_edges`` names what was left out (the topology API answers it as ``ignored``, a
``topology.file`` logs it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opsloop.errors import InvalidInputError

__all__ = ["LearnedEdge", "Topology", "parse_topology", "self_edges"]


@dataclass(frozen=True, slots=True)
class LearnedEdge:
    a: str
    b: str
    support: int
    strength: float


_DOCUMENT_KEYS = ("services", "edges", "actor")


def parse_topology(doc: Any) -> list[tuple[str, str]]:
    """Edges from a topology document (``services`` mapping and/or ``edges`` list), self-edges left out."""
    return [(a, b) for a, b in _edges(doc) if a != b]


def self_edges(doc: Any) -> list[str]:
    """The services a valid topology document declares as depending on themselves (left out)."""
    return sorted({a for a, b in _edges(doc) if a == b})


def _edges(doc: Any) -> list[tuple[str, str]]:
    if not isinstance(doc, dict):
        raise InvalidInputError("a topology document must be an object", field="topology")
    unknown = sorted(str(k) for k in doc if k not in _DOCUMENT_KEYS)
    if unknown:  # a misspelt key would otherwise replace the declared topology with nothing
        raise InvalidInputError(f"unknown key {unknown[0]!r} in the topology document (expected 'services' "
                                "and/or 'edges')", field=unknown[0])
    edges: list[tuple[str, str]] = []
    services = doc.get("services") or {}
    if not isinstance(services, dict):
        raise InvalidInputError("'services' must map a service to the list it depends on", field="services")
    for source, targets in services.items():
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
            raise InvalidInputError(f"services.{source}: expected a list of service names", field="services")
        edges.extend((str(source), t) for t in targets)
    listed = doc.get("edges") or []
    if not isinstance(listed, list):
        raise InvalidInputError("'edges' must be a list of {source, target}", field="edges")
    for i, edge in enumerate(listed):
        if not isinstance(edge, dict) or not isinstance(edge.get("source"), str) or not isinstance(
                edge.get("target"), str) or not edge["source"] or not edge["target"]:
            raise InvalidInputError(f"edges[{i}]: expected {{source, target}}", field="edges")
        edges.append((edge["source"], edge["target"]))
    return edges


class Topology:
    """Declared and learned dependencies, with the hop distance between two services.

    Args:
        episode_gap_s: a service's alerts more than this apart start a new episode.
        co_window_s: two episodes starting at most this far apart co-occur.
        min_support: co-occurrences a learned edge needs.
        min_strength: co-occurrences over the rarer service's episodes a learned edge needs.
    """

    def __init__(
        self,
        declared: Iterable[tuple[str, str]] = (),
        *,
        episode_gap_s: float = 300.0,
        co_window_s: float = 120.0,
        min_support: int = 3,
        min_strength: float = 0.5,
    ) -> None:
        self.episode_gap_s = episode_gap_s
        self.co_window_s = co_window_s
        self.min_support = min_support
        self.min_strength = min_strength
        self._declared: set[tuple[str, str]] = set()
        self._traced: set[tuple[str, str]] = set()
        self._edges: set[tuple[str, str]] = set()  # declared | traced
        self._adj: dict[str, set[str]] = defaultdict(set)
        self._down: dict[str, set[str]] = defaultdict(set)
        self._up: dict[str, set[str]] = defaultdict(set)
        self._dist_cache: dict[tuple[str, int], dict[str, int]] = {}
        self._episodes: dict[str, int] = defaultdict(int)
        self._last_seen: dict[str, float] = {}
        self._episode_start: dict[str, float] = {}
        self._co: dict[tuple[str, str], int] = defaultdict(int)
        self._co_by: dict[str, set[str]] = defaultdict(set)
        # bumped whenever what ``learned_counts`` returns may have changed (a new episode, a restore)
        self.learned_version = 0
        self.set_declared(declared)

    # --- declared -----------------------------------------------------------------------------
    def set_declared(self, edges: Iterable[tuple[str, str]]) -> None:
        self._declared = {(a, b) for a, b in edges if a and b and a != b}
        self._rebuild()

    def set_traced(self, edges: Iterable[tuple[str, str]]) -> None:
        """Replace the edges observed in traces; they count like declared ones (the declared stay)."""
        self._traced = {(a, b) for a, b in edges if a and b and a != b}
        self._rebuild()

    def _rebuild(self) -> None:
        self._edges = self._declared | self._traced
        self._adj = defaultdict(set)
        self._down, self._up = defaultdict(set), defaultdict(set)
        for a, b in self._edges:
            self._adj[a].add(b)
            self._adj[b].add(a)
            self._down[a].add(b)
            self._up[b].add(a)
        self._dist_cache.clear()

    def source_of(self, a: str, b: str, hops: int) -> str:
        """Where a path of ``hops`` between ``a`` and ``b`` comes from, for reasons: the declared
        topology, traced calls, or both (a longer path when any edge was traced)."""
        if not self._traced:
            return "declared topology"
        if hops == 1:
            return "declared topology" if (a, b) in self._declared or (b, a) in self._declared else "traced calls"
        return "declared topology and traced calls"

    def add_declared(self, edges: Iterable[tuple[str, str]]) -> None:
        self.set_declared(self._declared | set(edges))

    def declared(self) -> list[tuple[str, str]]:
        return sorted(self._declared)

    def depends_on(self, a: str, b: str) -> bool:
        return (a, b) in self._edges

    def dependencies(self, service: str) -> set[str]:
        return set(self._down.get(service, ()))

    def dependents(self, service: str, max_hops: int = 3) -> dict[str, int]:
        """Services that (transitively) depend on ``service`` within ``max_hops``, with their hop count."""
        return dict(self._reach(service, max_hops, False))

    def neighbours(self, service: str, max_hops: int = 2) -> set[str]:
        """Services linked to ``service``: along dependency paths (either way) within ``max_hops``, or
        by a learned link. Siblings (two callers of one service) are not linked: a fault in one does
        not make the other fail."""
        out = set(self._reach(service, max_hops, True)) | set(self._reach(service, max_hops, False))
        for other in self._co_by.get(service, ()):
            if self.learned_strength(service, other) > 0:
                out.add(other)
        return out

    def knows(self, service: str) -> bool:
        """Whether the declared (or traced) topology names ``service``."""
        return service in self._adj

    def explains(self, service: str, others: Iterable[str], max_hops: int) -> bool:
        """Whether each of ``others`` is ``service`` or depends on it within ``max_hops``: a failure of
        ``service`` accounts for all of them."""
        below = self._reach(service, max_hops, False)
        return all(o == service or o in below for o in others)

    def within(self, service: str, max_hops: int) -> dict[str, int]:
        """Services ``service`` depends on, directly or through others, within ``max_hops``."""
        return self._reach(service, max_hops, True)

    def _reach(self, service: str, max_hops: int, downward: bool) -> dict[str, int]:
        key = (service, max_hops if downward else -max_hops)
        dists = self._dist_cache.get(key)
        if dists is None:
            graph = self._down if downward else self._up
            dists, frontier = {}, [service]
            for hop in range(1, max_hops + 1):
                nxt = []
                for node in frontier:
                    # in name order: what walks these distances (inhibition reasons…) must not depend on
                    # the order of a set of strings, which changes with the process's hash seed
                    for other in sorted(graph.get(node, ())):
                        if other != service and other not in dists:
                            dists[other] = hop
                            nxt.append(other)
                frontier = nxt
            self._dist_cache[key] = dists
        return dists

    def distance(self, a: str, b: str, max_hops: int = 3) -> int | None:
        """Hops from ``a`` to ``b`` along a dependency path in either direction (``a`` depends on ``b``
        transitively, or ``b`` on ``a``), or ``None``."""
        if a == b:
            return 0
        if not a or not b or a not in self._adj:
            return None
        down = self._reach(a, max_hops, True).get(b)
        up = self._reach(a, max_hops, False).get(b)
        found = [d for d in (down, up) if d is not None]
        return min(found) if found else None

    # --- learned ------------------------------------------------------------------------------
    def observe(self, service: str, t: float) -> None:
        """Account for one signal of ``service`` at ``t`` (event time) for co-occurrence learning."""
        if not service:
            return
        last = self._last_seen.get(service)
        self._last_seen[service] = t if last is None else max(last, t)
        if last is not None and t - last <= self.episode_gap_s:
            return
        self._episodes[service] += 1
        self.learned_version += 1
        self._episode_start[service] = t
        for other, start in self._episode_start.items():
            if other != service and abs(t - start) <= self.co_window_s:
                pair = _pair(service, other)
                self._co[pair] += 1
                if self._co[pair] == self.min_support:
                    self._co_by[service].add(other)
                    self._co_by[other].add(service)
        if len(self._episode_start) > 4096:
            cutoff = t - 2 * self.co_window_s
            self._episode_start = {s: v for s, v in self._episode_start.items() if v >= cutoff}

    def learned_partners(self, service: str) -> set[str]:
        """Services with enough co-occurrences with ``service`` to be judged (see ``learned_strength``)."""
        return self._co_by.get(service, set())

    def learned_strength(self, a: str, b: str) -> float:
        """Strength in [0, 1] of the learned link between two services (0 when below thresholds)."""
        n = self._co.get(_pair(a, b), 0)
        if n < self.min_support:
            return 0.0
        strength = n / max(1, min(self._episodes.get(a, 0), self._episodes.get(b, 0)))
        return min(1.0, strength) if strength >= self.min_strength else 0.0

    def learned(self) -> list[LearnedEdge]:
        out = []
        for (a, b), n in self._co.items():
            s = self.learned_strength(a, b)
            if s > 0:
                out.append(LearnedEdge(a, b, n, s))
        return sorted(out, key=lambda e: (-e.strength, e.a, e.b))

    def load_learned(self, edges: Iterable[tuple[str, str, int, int, int]]) -> None:
        """Restore learned counts: ``(a, b, co_occurrences, episodes_a, episodes_b)``."""
        self.learned_version += 1
        for a, b, n, ea, eb in edges:
            self._co[_pair(a, b)] = max(self._co.get(_pair(a, b), 0), n)
            self._co_by[a].add(b)
            self._co_by[b].add(a)
            self._episodes[a] = max(self._episodes.get(a, 0), ea)
            self._episodes[b] = max(self._episodes.get(b, 0), eb)

    def learned_counts(self) -> list[tuple[str, str, int, int, int]]:
        return [(a, b, n, self._episodes.get(a, 0), self._episodes.get(b, 0)) for (a, b), n in self._co.items()
                if n >= self.min_support]

    def to_dict(self) -> dict[str, Any]:
        return {
            "declared": [{"source": a, "target": b} for a, b in self.declared()],
            "learned": [{"a": e.a, "b": e.b, "support": e.support, "strength": round(e.strength, 3)}
                        for e in self.learned()],
        }


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
