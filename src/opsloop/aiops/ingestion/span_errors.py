"""Spans per service per minute, and how many of them had status ERROR, as metric points.

Nothing is kept per span: each minute (of arrival, so a sender's clock does not matter) holds two
counts per service. Once the minute is over, it becomes the points ``trace_spans{service}`` and
``trace_error_spans{service}`` (0 when none failed), which feed the metric history, the metric signals
and the watch and threshold rules like any other series. At shutdown the minute under way is handed
over as it stands (``drain``).

These points are this process's share of a minute: other workers, or this server before a restart,
may have counted spans of the same minute, so the pipeline adds them to the stored sample instead of
replacing it. A part of a minute (the one the process started in, which is not ``whole``, and the one drained
at shutdown) is stored but not shown to the detectors: to them it would look like a drop in traffic.
"""

from __future__ import annotations

from collections.abc import Iterable

from opsloop.aiops.ingestion.normalise import MetricPoint
from opsloop.aiops.ingestion.otlp_traces import SpanCall

__all__ = ["SpanErrorCounts"]

MINUTE = 60.0
MAX_SERVICES = 10_000  # per minute; spans of further services that minute are not counted


class SpanErrorCounts:
    """Spans and error spans per service, per minute of arrival, counted from ``started`` on."""

    def __init__(self, started: float = 0.0) -> None:
        self._minutes: dict[float, dict[str, list[int]]] = {}  # minute start -> service -> [spans, errors]
        self.started = started

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
        return self._points([m for m in self._minutes if m < current])

    def drain(self) -> list[MetricPoint]:
        """The points of every minute counted, the one under way too (at shutdown, as it stands)."""
        return self._points(list(self._minutes))

    def whole(self, minute: float) -> bool:
        """Whether this process was counting from the start of the minute starting at ``minute``."""
        return self.started <= minute

    def _points(self, minutes: list[float]) -> list[MetricPoint]:
        out = []
        for minute in sorted(minutes):
            for service, (spans, errors) in sorted(self._minutes.pop(minute).items()):
                out.append(MetricPoint({"__name__": "trace_spans", "service": service}, minute, float(spans)))
                out.append(MetricPoint({"__name__": "trace_error_spans", "service": service}, minute, float(errors)))
        return out
