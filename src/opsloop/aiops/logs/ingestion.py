"""One call per raw line: header split, template mining and log anomalies together.

This is what an ingestion endpoint calls; it owns no I/O. Give each service stream its
time (event time, seconds since the epoch) when known; otherwise the arrival time is used. Anomalies
are judged on the line's time, or on the clock's where the line is dated ahead of it.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from opsloop.aiops.logs.anomalies import LogAnomalyDetector
from opsloop.aiops.logs.headers import HeaderParser, LogRecord, normal_level
from opsloop.aiops.logs.miner import LogMiner, Match
from opsloop.core.signals import Signal

__all__ = ["IngestedLine", "LogIngestor"]


@dataclass(frozen=True, slots=True)
class IngestedLine:
    """What one raw line became: its header fields, its template and any signals it raised."""

    record: LogRecord
    match: Match
    signals: list[Signal] = field(default_factory=list)


class LogIngestor:
    """Header parsing, mining and anomaly detection behind one ``ingest`` call.

    Args:
        miner: the template miner (a fresh in-memory one by default).
        detector: the anomaly detector (default thresholds by default); ``None`` keeps the default,
            pass ``detect=False`` to mine without detecting.
        log_format: a user format string for ``HeaderParser`` (``<Date> <Time> <Level>: <Content>``).
        clock: the current time (seconds since the epoch); a line dated after it is judged as of now.
    """

    def __init__(
        self,
        miner: LogMiner | None = None,
        detector: LogAnomalyDetector | None = None,
        *,
        log_format: str | None = None,
        detect: bool = True,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.miner = miner or LogMiner()
        self.detector = (detector or LogAnomalyDetector()) if detect else None
        self.headers: dict[str, HeaderParser] = {}
        self.log_format = log_format
        self.clock = clock

    def ingest(
        self, line: str | bytes, *, service: str = "", time: float | None = None, level: str | None = None
    ) -> IngestedLine:
        """Split, mine and judge one raw line.

        Args:
            line: the raw line (header and message) or just a message.
            service: the emitting service; templates and baselines are kept per service.
            time: event time in seconds since the epoch (arrival time when ``None``).
            level: the line's level when the transport carries it (an OTLP severity text,
                ``"error"``, ``"WARN"``…); it wins over a level found in the header.
        """
        if isinstance(line, bytes):
            line = self.miner.decode(line)
        parser = self.headers.get(service)
        if parser is None:
            key = service if len(self.headers) < self.miner.config.max_services else ""
            parser = self.headers.get(key) or self.headers.setdefault(key, HeaderParser(self.log_format))
        record = parser.parse(line)
        if level:
            record = replace(record, level=normal_level(level))
        now = self.clock()
        at = now if time is None else time
        match = self.miner.add(record.message, service=service, time=at, level=record.level or None)
        signals: list[Signal] = []
        if self.detector is not None:
            text = self.miner.template(match.template_id).text if match.change != "none" else ""
            # A line dated ahead of the clock (a host whose clock runs fast) is judged as of now: its time
            # would close every service's buckets early, and their empty buckets read as traffic drops.
            signals = self.detector.observe(
                match, time=min(at, now), level=record.level, template_text=text, message=record.message
            )
        return IngestedLine(record, match, signals)
