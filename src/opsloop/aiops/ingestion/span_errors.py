"""Spans per service per minute, and how many of them had status ERROR, as metric points.

Nothing is kept per span: each minute (of arrival, so a sender's clock does not matter) holds two
counts per service. Once the minute is over, it becomes the points ``trace_spans{service}`` and
``trace_error_spans{service}`` (0 when none failed), which feed the metric history, the metric signals
and the watch and threshold rules like any other series.
"""

from __future__ import annotations

from collections.abc import Iterable

from opsloop.aiops.ingestion.normalise import MetricPoint
from opsloop.aiops.ingestion.otlp_traces import SpanCall

__all__ = ["SpanErrorCounts"]

MINUTE = 60.0
MAX_SERVICES = 10_000  # per minute; spans of further services that minute are not counted


class SpanErrorCounts:
    """Spans and error spans per service, per minute of arrival."""

    def __init__(self) -> None:
        self._minutes: dict[float, dict[str, list[int]]] = {}  # minute start -> service -> [spans, errors]

    def observe(self, spans: Iterable[SpanCall], now: float) -> None:
        minute = now - now % MINUTE
        counts = self._minutes.setdefault(minute, {})
        for span in spans:
            if not span.service:
                continue
            c = counts.get(span.service)
            if c is None:
                if len(counts) >= MAX_SERVICES:
                    continue
                c = counts[span.service] = [0, 0]
            c[0] += 1
            c[1] += span.error

    def closed(self, now: float) -> list[MetricPoint]:
        """The points of the minutes over by ``now`` (each minute once)."""
        current = now - now % MINUTE
        out = []
        for minute in sorted(m for m in self._minutes if m < current):
            for service, (spans, errors) in sorted(self._minutes.pop(minute).items()):
                out.append(MetricPoint({"__name__": "trace_spans", "service": service}, minute, float(spans)))
                out.append(MetricPoint({"__name__": "trace_error_spans", "service": service}, minute, float(errors)))
        return out
