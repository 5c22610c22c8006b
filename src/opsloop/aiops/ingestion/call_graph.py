"""Service dependencies learned from spans: who calls whom, counted per edge.

A span of service A that is the parent of a span of service B is a call ``A -> B`` (A depends on B);
so is a client or producer span of A naming B in ``peer.service``, or in ``server.address`` /
``net.peer.name`` when B is a service already seen in spans (a call seen both ways counts once).
Parents and children often arrive in different requests, so recent spans (id -> service) and children
still waiting for their parent are kept, bounded in number and age. An edge joins the topology after
``min_calls`` calls and leaves it (and the store) when not seen for ``expiry_s``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from opsloop.aiops.ingestion.otlp_traces import CLIENT, PRODUCER, SpanCall

__all__ = ["CallGraph"]

MAX_EDGES = 10_000
MAX_SERVICES = 10_000


class CallGraph:
    """Calls between services observed in spans; the edges with enough calls are the traced topology.

    Args:
        min_calls: calls an edge needs before it is part of the topology.
        expiry_s: an edge not seen for this long is forgotten.
        max_spans: recent spans remembered to join a child to a parent from another request (and as
            many children waiting for their parent).
        span_ttl_s: how long a remembered span or waiting child is kept.
    """

    def __init__(self, *, min_calls: int = 3, expiry_s: float = 7 * 86400.0, max_spans: int = 100_000,
                 span_ttl_s: float = 300.0) -> None:
        self.min_calls = min_calls
        self.expiry_s = expiry_s
        self.max_spans = max_spans
        self.span_ttl_s = span_ttl_s
        # trace id + span id -> (service, the service its peer attributes named and were counted, seen at)
        self._spans: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        # trace id + parent span id -> the services of children seen before it, and when
        self._waiting: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()
        self._services: OrderedDict[str, None] = OrderedDict()
        self._edges: dict[tuple[str, str], list[float]] = {}  # (a, b) -> [calls, last seen]
        self.dirty = False  # counts changed since ``rows`` was last taken for the store

    # --- learning ---------------------------------------------------------------------------------------
    def observe(self, spans: Iterable[SpanCall], now: float) -> bool:
        """Count the calls ``spans`` show; whether the topology's edges (``active``) changed."""
        self._forget(now)  # a parent past its age is not joined
        changed = False
        for span in spans:
            changed |= self._observe(span, now)
        self._forget(now)
        return changed

    def _observe(self, span: SpanCall, now: float) -> bool:
        svc = span.service
        if not svc:
            return False
        self._services[svc] = None
        self._services.move_to_end(svc)
        if len(self._services) > MAX_SERVICES:
            self._services.popitem(last=False)
        changed = False
        named = self._named(span)
        if named:
            changed |= self._count(svc, named, now)
        key = span.trace_id + span.span_id
        self._spans[key] = (svc, named, now)
        self._spans.move_to_end(key)
        if span.parent_id:
            pkey = span.trace_id + span.parent_id
            parent = self._spans.get(pkey)
            if parent is None:
                self._waiting.setdefault(pkey, []).append((svc, now))
            elif parent[1] != svc:  # not already counted from the parent's peer attributes
                changed |= self._count(parent[0], svc, now)
        for child, _ in self._waiting.pop(key, ()):
            if child != named:
                changed |= self._count(svc, child, now)
        return changed

    def _named(self, span: SpanCall) -> str:
        """The service a client or producer span says it calls, if another one."""
        if span.kind not in (CLIENT, PRODUCER):
            return ""
        target = span.peer or (span.address if span.address in self._services else "")
        return target if target != span.service else ""

    def _count(self, a: str, b: str, now: float) -> bool:
        if not a or not b or a == b:
            return False
        edge = self._edges.get((a, b))
        if edge is None:
            if len(self._edges) >= MAX_EDGES:
                return False  # room comes back as edges expire
            edge = self._edges[(a, b)] = [0.0, now]
        edge[0] += 1
        edge[1] = max(edge[1], now)
        self.dirty = True
        return edge[0] == self.min_calls

    def _forget(self, now: float) -> None:
        """Drop remembered spans and waiting children past their age or over the bound."""
        cutoff = now - self.span_ttl_s
        spans, waiting = self._spans, self._waiting
        while spans and (len(spans) > self.max_spans or next(iter(spans.values()))[2] < cutoff):
            spans.popitem(last=False)
        while waiting and (len(waiting) > self.max_spans or next(iter(waiting.values()))[0][1] < cutoff):
            waiting.popitem(last=False)

    def expire(self, now: float) -> bool:
        """Forget edges not seen for ``expiry_s``; whether the topology's edges changed."""
        old = [e for e, (_, seen) in self._edges.items() if seen < now - self.expiry_s]
        changed = any(self._edges[e][0] >= self.min_calls for e in old)
        for e in old:
            del self._edges[e]
        self.dirty |= bool(old)
        return changed

    # --- reading and persisting -------------------------------------------------------------------------
    def active(self) -> list[tuple[str, str]]:
        """The edges with at least ``min_calls`` calls, in name order."""
        return sorted(e for e, (calls, _) in self._edges.items() if calls >= self.min_calls)

    def to_list(self) -> list[dict[str, Any]]:
        """The active edges as the API shows them."""
        return [{"source": a, "target": b, "calls": int(self._edges[(a, b)][0]), "last_seen": self._edges[(a, b)][1]}
                for a, b in self.active()]

    def rows(self) -> list[tuple[str, str, float, float]]:
        """Every counted edge (also those below ``min_calls``) as ``(source, target, calls, last_seen)``."""
        self.dirty = False
        return [(a, b, calls, seen) for (a, b), (calls, seen) in sorted(self._edges.items())]

    def load(self, rows: Iterable[tuple[str, str, float, float]]) -> None:
        """Restore counted edges (``rows`` as stored); counts seen since are kept if larger."""
        for a, b, calls, seen in rows:
            edge = self._edges.setdefault((a, b), [0.0, seen])
            edge[0] = max(edge[0], float(calls))
            edge[1] = max(edge[1], seen)
            self._services.setdefault(a, None)
            self._services.setdefault(b, None)

