"""Retention in the pipeline's tick: old log records and signals go, evidence stays; settings reach it."""

from __future__ import annotations

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Signal, SignalKind
from opsloop.settings import load_settings
from opsloop.storage.sql import open_database
from opsloop.storage.sql.incidents import AiopsStores

DAY = 86400.0
T0 = 1_800_000_000.0


def test_tick_prunes_old_logs_and_resolved_alerts_in_slices_and_keeps_evidence(tmp_path) -> None:  # noqa: ANN001
    now = [T0]
    stores = AiopsStores(open_database(f"sqlite:///{tmp_path / 'p.db'}"))
    p = Pipeline(stores, mine_logs=False, clock=lambda: now[0], log_retention_s=2 * DAY, signal_retention_s=10 * DAY)
    logs = [Signal(time=T0 + i, source="otlp", kind=SignalKind.LOG, service="api", labels={"n": str(i)},
                   text=f"line {i}") for i in range(25)]
    p.ingest(logs, now=T0)
    down = Signal(time=T0, source="am", kind=SignalKind.ALERT, service="db", labels={"alertname": "Down"},
                  text="db down")
    p.ingest([down], now=T0)
    stored = stores.signals.list(kind="alert", limit=10)
    assert len(stored) == 1 and stored[0]["incident_id"] is not None

    now[0] = T0 + 3 * DAY  # the logs are past their 2 days; the alert still fires
    p._prune(now[0], slice_rows=10)
    assert len(stores.signals.list(kind="log", limit=100)) == 15 and p._prune_backlog  # a slice, then more
    p.tick()  # the backlog does not wait a minute
    p.tick()
    assert stores.signals.list(kind="log", limit=100) == [] and not p._prune_backlog
    assert len(stores.signals.list(kind="alert", limit=10)) == 1

    resolved = Signal(time=T0, source="am", kind=SignalKind.ALERT, service="db", labels={"alertname": "Down"},
                      text="db down", status="resolved", evidence={"endsAt": T0 + 60})
    p.ingest([resolved], now=now[0])  # the incident auto-resolves now: its evidence stays 10 days from now
    assert stores.incidents.list(limit=10)[0][0]["state"] == "resolved"
    now[0] = T0 + 13 * DAY - 60
    p._prune(now[0])
    assert len(stores.signals.list(kind="alert", limit=10)) == 1
    now[0] = T0 + 13 * DAY + 60
    p._prune(now[0])
    assert stores.signals.list(kind="alert", limit=10) == []
    assert stores.incidents.list(limit=10)[1] == 1  # the incident itself is kept


def test_retention_settings_reach_the_pipeline(tmp_path) -> None:  # noqa: ANN001
    settings = load_settings({"storage": {"data_dir": str(tmp_path)},
                              "ingestion": {"log_retention_days": 1, "signal_retention_days": 0}}, environ={})
    p = Pipeline.from_settings(AiopsStores(open_database(f"sqlite:///{tmp_path / 's.db'}")), settings)
    assert p.log_retention_s == DAY and p.signal_retention_s == 0
