"""``CallGraph``: calls counted from spans, joined across batches, bounded, expiring, restored."""

from __future__ import annotations

from opsloop.aiops.ingestion.call_graph import CallGraph
from opsloop.aiops.ingestion.otlp_traces import CLIENT, INTERNAL, SERVER, SpanCall

T = "0" * 32


def span(sid: int, parent: int | None, service: str, kind: int = SERVER, **kw: str) -> SpanCall:
    return SpanCall(T, f"{sid:016x}", f"{parent:016x}" if parent is not None else "", service, kind, **kw)


def test_a_cross_service_parent_is_a_call_whichever_arrives_first() -> None:
    g = CallGraph(min_calls=2)
    assert not g.observe([span(1, None, "a", CLIENT)], now=0)
    assert not g.observe([span(2, 1, "b")], now=1)  # parent first: one call
    assert not g.observe([span(4, 3, "b")], now=2)  # child first: waits
    assert g.observe([span(3, None, "a", CLIENT)], now=3)  # second call: the edge joins
    assert g.active() == [("a", "b")] and g.to_list()[0] == {"source": "a", "target": "b", "calls": 2, "last_seen": 3}
    assert not g.observe([span(5, 3, "a", INTERNAL)], now=4)  # same service: not a call
    assert g.active() == [("a", "b")]


def test_remembered_spans_are_bounded_in_number_and_age() -> None:
    g = CallGraph(min_calls=1, max_spans=100, span_ttl_s=60)
    g.observe([span(i, None, "a", CLIENT) for i in range(1, 201)], now=0)
    g.observe([span(1000, 1, "b")], now=1)  # span 1 was pushed out by newer ones
    g.observe([span(1001, 200, "c")], now=2)
    assert g.active() == [("a", "c")]
    g.observe([span(1002, 199, "d")], now=100)  # remembered, but too old
    assert g.active() == [("a", "c")]


def test_edges_expire_when_not_seen_and_rows_restore_them() -> None:
    g = CallGraph(min_calls=1, expiry_s=100)
    g.observe([span(1, None, "a", CLIENT, peer="b"), span(2, None, "a", CLIENT, peer="c")], now=0)
    g.observe([span(3, None, "a", CLIENT, peer="c")], now=90)
    rows = g.rows()
    assert rows == [("a", "b", 1.0, 0), ("a", "c", 2.0, 90)] and not g.dirty
    assert g.expire(150) and g.active() == [("a", "c")] and g.dirty
    restored = CallGraph(min_calls=2)
    restored.load(rows)
    assert restored.active() == [("a", "c")]
    restored.observe([span(4, None, "x", CLIENT, address="b")], now=0)  # "b" is a known service once restored
    assert restored.rows()[-1][:3] == ("x", "b", 1.0)
