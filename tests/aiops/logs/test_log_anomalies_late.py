"""Lines delivered late (a shipper catching up after an outage, a Collector's retry queue) are mined, but
their buckets were judged already: counted in the open bucket they would read as a surge."""

from __future__ import annotations

from opsloop.aiops.logs import LogAnomalyConfig, LogAnomalyDetector, LogIngestor
from opsloop.core.signals import Signal

BUCKET = 60
CONFIG = LogAnomalyConfig(bucket_seconds=BUCKET, warmup_seconds=600, min_history=6, min_count=5)


def _lines(ingestor: LogIngestor, minutes: range, level: str = "info") -> list[Signal]:
    signals: list[Signal] = []
    for m in minutes:
        for k in range(10):
            line = f"ts={m * BUCKET + k * 6} level={level} msg=served request={m * 10 + k}"
            signals += ingestor.ingest(line, service="api", time=m * BUCKET + k * 6).signals
    return signals


def test_a_backlog_delivered_late_raises_no_surge() -> None:
    ingestor = LogIngestor(detector=LogAnomalyDetector(CONFIG))
    assert _lines(ingestor, range(60)) == []
    _lines(ingestor, range(30, 50))  # twenty minutes of lines, delivered during minute 59
    after = _lines(ingestor, range(60, 63))
    assert [s.text for s in after if s.status == "firing"] == []
    template = ingestor.miner.templates("api")[0]
    assert template.count == 60 * 10 + 20 * 10 + 3 * 10  # mined all the same


def test_a_late_error_backlog_raises_no_error_surge() -> None:
    ingestor = LogIngestor(detector=LogAnomalyDetector(CONFIG))
    _lines(ingestor, range(60))
    late = _lines(ingestor, range(40, 45), level="error")
    after = _lines(ingestor, range(60, 63))
    assert [s.labels["anomaly"] for s in late + after if s.status == "firing" and s.labels["anomaly"] != "new_template"] == []


def test_lines_a_little_late_still_count() -> None:
    """A host some seconds behind its neighbours: its lines still count, in the open bucket."""
    ingestor = LogIngestor(detector=LogAnomalyDetector(CONFIG))
    _lines(ingestor, range(61))  # bucket 60 is open
    surge = []
    for k in range(60):  # an error surge from a host whose lines are dated 20 s before bucket 60 opened
        surge += ingestor.ingest(f"level=error msg=boom n={k}", service="api", time=60 * BUCKET - 20).signals
    surge += _lines(ingestor, range(61, 62))
    assert "error_surge" in [s.labels["anomaly"] for s in surge if s.status == "firing"]
