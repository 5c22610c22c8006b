"""Log anomalies become signals of kind log_anomaly, in the shape every signal has."""

from __future__ import annotations

import pytest

from opsloop.aiops.logs import LogAnomalyConfig, LogAnomalyDetector, LogIngestor, SeasonalBaseline
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

BUCKET = 60
CONFIG = LogAnomalyConfig(bucket_seconds=BUCKET, warmup_seconds=600, min_history=6, min_count=5)


def _steady(ingestor: LogIngestor, minutes: int, start: float = 0.0, per_minute: int = 5) -> list[Signal]:
    signals: list[Signal] = []
    for m in range(minutes):
        for k in range(per_minute):
            t = start + m * BUCKET + k * (BUCKET / per_minute)
            signals += ingestor.ingest(
                f"2024-03-01 10:00:00,000 INFO [w] app.Api: served request {m * 10 + k} in 5 ms",
                service="api",
                time=t,
            ).signals
    return signals


def _ingestor() -> LogIngestor:
    return LogIngestor(detector=LogAnomalyDetector(CONFIG))


def test_steady_traffic_raises_nothing() -> None:
    assert _steady(_ingestor(), 60) == []


def test_new_template_after_warmup_is_a_signal() -> None:
    ingestor = _ingestor()
    _steady(ingestor, 20)
    out = ingestor.ingest(
        "2024-03-01 10:20:00,000 ERROR [w] app.Db: connection pool exhausted after 30 s",
        service="api",
        time=20 * BUCKET + 1,
    ).signals
    new = [s for s in out if s.labels.get("anomaly") == "new_template"]
    assert len(new) == 1
    signal = new[0]
    assert signal.kind == SignalKind.LOG_ANOMALY
    assert signal.service == "api"
    assert signal.severity == Severity.ERROR
    assert signal.evidence["template"] == "connection pool exhausted after <*> s"
    assert signal.to_dict()["kind"] == "log_anomaly"


def test_new_templates_during_warmup_are_expected() -> None:
    ingestor = _ingestor()
    out = ingestor.ingest("first line ever", service="api", time=0.0).signals
    assert out == []


def test_rate_surge_and_its_resolution() -> None:
    ingestor = _ingestor()
    _steady(ingestor, 30)
    burst = _steady(ingestor, 1, start=30 * BUCKET, per_minute=60)
    after = _steady(ingestor, 2, start=31 * BUCKET)
    firing = [s for s in burst + after if s.labels.get("anomaly") == "template_rate" and s.status == "firing"]
    assert len(firing) == 1
    assert firing[0].values["observed"] == 60
    assert firing[0].values["expected_high"] < 60
    resolved = [s for s in after if s.status == "resolved"]
    assert len(resolved) == 1 and resolved[0].fingerprint() == firing[0].fingerprint()


def test_error_surge_is_a_signal() -> None:
    ingestor = _ingestor()
    _steady(ingestor, 30)
    for k in range(40):
        ingestor.ingest(
            f"2024-03-01 10:30:00,000 ERROR [w] app.Api: request {k} failed",
            service="api",
            time=30 * BUCKET + k,
        )
    out = ingestor.detector.flush(32 * BUCKET)
    surge = [s for s in out if s.labels.get("anomaly") == "error_surge" and s.status == "firing"]
    assert len(surge) == 1
    assert surge[0].severity >= Severity.ERROR
    assert surge[0].values["observed"] == 40


def test_seasonal_baseline_learns_per_slot() -> None:
    baseline = SeasonalBaseline(slot_seconds=10, slots=2, min_history=2)
    for week in range(10):
        baseline.update(week * 20 + 0, 100.0)  # slot 0 is busy
        baseline.update(week * 20 + 10, 2.0)  # slot 1 is quiet
    assert baseline.expected(0)[0] == pytest.approx(100.0)
    assert baseline.expected(10)[0] == pytest.approx(2.0)


def test_config_is_validated() -> None:
    with pytest.raises(InvalidInputError):
        LogAnomalyConfig(bucket_seconds=0)


def test_a_level_given_by_the_transport_counts_for_error_surges() -> None:
    ingestor = _ingestor()
    done = ingestor.ingest("request 7 failed", service="api", time=1.0, level="error")
    assert done.record.level == "ERROR"
    assert ingestor.miner.template(done.match.template_id).levels == {"ERROR": 1}


def test_a_merge_carries_the_rate_history_over_instead_of_alarming() -> None:
    ingestor = _ingestor()
    names = ["alice", "bob", "carol"]
    signals: list[Signal] = []
    for m in range(30):  # two users log in steadily: two templates, each with its own baseline
        for k in range(40):
            name = names[k % 2]
            signals += ingestor.ingest(
                f"login ok for user {name} from 10.0.0.{k}", service="auth", time=m * BUCKET + k
            ).signals
    before = {t.id for t in ingestor.miner.templates("auth")}
    assert len(before) == 2
    for m in range(30, 40):  # a third user: the three merge into one template, same total rate
        for k in range(40):
            name = names[k % 3]
            signals += ingestor.ingest(
                f"login ok for user {name} from 10.0.0.{k}", service="auth", time=m * BUCKET + k
            ).signals
    assert len(ingestor.miner.templates("auth")) == 1
    rate = [s for s in signals if s.labels.get("anomaly") == "template_rate"]
    assert rate == []
