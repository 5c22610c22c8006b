"""A line dated ahead of the server's clock (a host whose clock runs fast; ingestion allows an hour)
must not close the buckets of every service early: their empty buckets would read as traffic drops."""

from __future__ import annotations

import time

from opsloop.aiops.logs import LogAnomalyConfig, LogAnomalyDetector, LogIngestor

BUCKET = 60
CONFIG = LogAnomalyConfig(bucket_seconds=BUCKET, warmup_seconds=600, min_history=6, min_count=5)


def _steady(ingestor: LogIngestor, start: float, minutes: int) -> list:
    signals = []
    for m in range(minutes):
        for k in range(100):
            t = start + m * BUCKET + k * 0.6
            signals += ingestor.ingest(f"served request {m * 100 + k} in 5 ms", service="api", time=t).signals
    return signals


def test_a_line_from_a_fast_clock_raises_no_traffic_drop() -> None:
    ingestor = LogIngestor(detector=LogAnomalyDetector(CONFIG))
    now = time.time()
    start = now - 30 * BUCKET
    assert _steady(ingestor, start, 30) == []
    fast = ingestor.ingest("cache warmed in 3 ms", service="web", time=now + 20 * BUCKET).signals
    assert [s.text for s in fast if s.labels.get("anomaly") == "template_rate"] == []
    # api's traffic goes on at the same rate (its buckets close as the clock passes them): still nothing
    assert _steady(ingestor, now, 3) == []


def test_lines_in_the_past_are_judged_by_their_own_time() -> None:
    """Replayed history (synthetic times, far behind the clock) still closes buckets as it goes."""
    ingestor = LogIngestor(detector=LogAnomalyDetector(CONFIG))
    _steady(ingestor, 0.0, 20)
    surge = []
    for k in range(300):
        surge += ingestor.ingest(f"served request {k} in 5 ms", service="api", time=20 * BUCKET + k * 0.1).signals
    surge += ingestor.ingest("served request 1 in 5 ms", service="api", time=21 * BUCKET + 1).signals
    assert [s.labels["anomaly"] for s in surge] == ["template_rate"]
