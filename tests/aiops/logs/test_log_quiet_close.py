"""A surge right before every service stopped logging is judged by the pipeline's tick once no line has
come for a bucket's width, not only when (if ever) the next line comes."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings

pytest.importorskip("opsloop.aiops.logs")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _lines(t: float, n: int, severity: Severity) -> list[Signal]:
    return [Signal(time=t + i, source="otlp", kind=SignalKind.LOG, service="payments", severity=severity,
                   text=f"payment {i} declined by issuer") for i in range(n)]


def test_the_last_bucket_before_the_logs_stopped_is_judged_by_the_tick(tmp_path: Path) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={}))
    try:
        t0 = 1_790_000_100.0 - 1_790_000_100.0 % 300
        clock = Clock(t0)
        pipeline = Pipeline(runtime.aiops, clock=clock)
        pipeline.load()
        for b in range(20):  # one error line and five others every five minutes
            clock.t = t0 + 300 * b + 120
            pipeline.ingest(_lines(t0 + 300 * b, 1, Severity.ERROR) + _lines(t0 + 300 * b + 100, 5, Severity.INFO))
        clock.t = t0 + 300 * 20 + 100
        pipeline.ingest(_lines(t0 + 300 * 20, 60, Severity.ERROR))  # then nothing more: the system is down

        def surges() -> list[dict]:
            return [s for s in runtime.aiops.signals.list(kind="log_anomaly")
                    if s["labels"].get("anomaly") == "error_surge"]

        clock.t += 200  # quiet for less than a bucket: the bucket may still get lines
        pipeline.tick()
        assert surges() == []
        clock.t += 120
        pipeline.tick()
        [surge] = surges()
        assert surge["service"] == "payments" and surge["values"]["observed"] == 60
        assert surge["incident_id"] is not None
        judged = runtime.aiops.signals.list(kind="log_anomaly")  # (the template's own rate rose too)
        clock.t += 600
        pipeline.tick()  # the silence after it is not judged bucket by bucket
        assert runtime.aiops.signals.list(kind="log_anomaly") == judged
    finally:
        runtime.close()
