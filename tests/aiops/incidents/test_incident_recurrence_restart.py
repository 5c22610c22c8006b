"""The correlator's memory of resolved incidents survives a restart for as long as it matters: a
flaky alert auto-resolved well before the restart still rejoins its incident within its
recurrence window, as it would have without the restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from opsloop.aiops.correlation import GroupingConfig
from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Severity, Signal
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


def _backup_late(t: float, status: str = "firing") -> Signal:
    return Signal(time=t, source="alertmanager", kind="alert", service="batch", severity=Severity.ERROR,
                  labels={"alertname": "BackupLate", "service": "batch", "instance": "batch-1"},
                  text="backup late", status=status, evidence={"endsAt": t + 60} if status == "resolved" else {})


def _with_pipeline(tmp_path: Path, clock: Callable[[], float], work: Callable[[Pipeline], object]) -> object:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops, clock=clock)
        pipeline.load()
        return work(pipeline)
    finally:
        runtime.close()


def test_a_flaky_alert_resolved_long_before_a_restart_still_rejoins(tmp_path: Path) -> None:
    gap = 2400.0  # 40 minutes: past the 15-minute reopen window, within the first recurrence window
    assert GroupingConfig().first_recur_s > gap + 120
    t0 = time.time()
    now = [t0]

    def fire_and_clear(p: Pipeline) -> int:
        (first,) = p.ingest([_backup_late(t0)], now=t0).opened
        assert p.ingest([_backup_late(t0, "resolved")], now=t0 + 60).resolved == 1
        return first

    first = _with_pipeline(tmp_path, lambda: now[0], fire_and_clear)
    now[0] = t0 + 60 + gap  # the server restarts just before the alert fires again
    report = _with_pipeline(tmp_path, lambda: now[0], lambda p: p.ingest([_backup_late(now[0])], now=now[0]))
    assert report.opened == [] and report.updated == [first]  # type: ignore[attr-defined]
