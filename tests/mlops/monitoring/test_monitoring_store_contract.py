"""One contract, run on every MonitoringStore backend (in-memory and SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.mlops.monitoring import (
    DriftReport,
    FeatureDrift,
    GroundTruth,
    MonitoringStore,
    PredictionSample,
    open_store,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MonitoringStore]:
    yield open_store("memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'mon.db'}")


def sample(i: int, model: str = "m", variant: str = "champion") -> PredictionSample:
    return PredictionSample(model=model, request_id=f"r{i}", row=0, time=1000.0 + i, features={"x": float(i)},
                            prediction=i % 2, variant=variant, version="v1")


def test_samples_are_bounded_newest_first(store: MonitoringStore) -> None:
    store.add_samples([sample(i) for i in range(10)], max_per_model=6)
    store.add_samples([sample(i, model="other") for i in range(3)])
    got = store.list_samples("m")
    assert [s.request_id for s in got] == ["r9", "r8", "r7", "r6", "r5", "r4"]
    assert got[0].features == {"x": 9.0} and got[0].prediction == 1
    assert store.count_samples("m") == 6 and store.count_samples("other") == 3
    assert [s.request_id for s in store.list_samples("m", limit=2, since=1007.0)] == ["r9", "r8"]


def test_variants_are_kept_apart(store: MonitoringStore) -> None:
    store.add_samples([sample(1), sample(1, variant="challenger")])
    assert [s.variant for s in store.list_samples("m", variant="challenger")] == ["challenger"]


def test_labels_join_samples_by_request_and_row(store: MonitoringStore) -> None:
    store.add_samples([sample(i) for i in range(4)])
    matched = store.add_labels([GroundTruth("m", "r1", 0, 1), GroundTruth("m", "r2", 0, 0),
                                GroundTruth("m", "unknown", 0, 1)])
    assert matched == 2
    labelled = store.list_samples("m", labelled_only=True)
    assert {(s.request_id, s.label) for s in labelled} == {("r1", 1), ("r2", 0)}
    assert store.add_labels([GroundTruth("m", "r1", 0, 0)]) == 1  # a correction replaces the label
    assert {s.request_id: s.label for s in store.list_samples("m", labelled_only=True)}["r1"] == 0


def test_references_reports_and_signals_round_trip(store: MonitoringStore) -> None:
    assert store.get_reference("m") is None
    store.save_reference("m", {"rows": 3, "features": {}})
    store.save_reference("m", {"rows": 5, "features": {}})
    stored = store.get_reference("m") or {}
    assert {k: v for k, v in stored.items() if k != "revision"} == {"rows": 5, "features": {}}
    for t in (1.0, 2.0):
        store.add_drift_report(DriftReport("m", t, 5, 10, [FeatureDrift("x", "numeric", {"psi": t}, True, 5, 10)]))
    latest = store.list_drift_reports("m", limit=1)
    assert latest[0].time == 2.0 and latest[0].drifted == ["x"]
    s = Signal(time=5.0, source="monitor:drift", kind=SignalKind.MODEL_DRIFT, service="m",
               labels={"model": "m", "feature": "x"}, severity=Severity.ERROR, values={"psi": 0.4})
    store.add_signal(s)
    store.add_signal(Signal(time=6.0, source="monitor:performance", kind=SignalKind.MODEL_PERFORMANCE,
                            service="n", labels={"model": "n", "metric": "accuracy"}))
    got = store.list_signals(model="m")
    assert len(got) == 1 and got[0].to_dict() == s.to_dict()
    assert [x.labels["model"] for x in store.list_signals()] == ["n", "m"]
    assert len(store.list_signals(kind="model_performance")) == 1
    assert store.list_signals(since=5.5)[0].service == "n"


def test_a_request_id_past_its_column_is_sampled_and_labelled(monitoring_store: MonitoringStore) -> None:
    # x-request-id is the client's: on PostgreSQL one past 128 characters failed the whole sampling flush
    # (every other request's samples in it were lost) and made its labels post a 500.
    long_id = "trace-" + "f" * 300
    monitoring_store.add_samples([PredictionSample(model="m", request_id=long_id, row=0, time=1.0,
                                                   features={"x": 1.0}, prediction=1), sample(1)])
    assert monitoring_store.count_samples("m") == 2
    assert monitoring_store.add_labels([GroundTruth("m", long_id, 0, 1)]) == 1
    assert [s.label for s in monitoring_store.list_samples("m", labelled_only=True)] == [1]
