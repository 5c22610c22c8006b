"""What a drift reference remembers of where it came from, and how a check keeps a drift's state: a
version's training data is found from its tags or its run; a reference that followed its alias is
compared with what the new version answered since; a check without a verdict keeps a drift firing."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from opsloop.mlops.monitoring import DriftPolicy, InMemoryMonitoringStore, ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.lineage import TRAINING_DATA_TAG, data_origin, followed, training_data_of


@pytest.mark.parametrize(("run_id", "tags", "previous", "found"), [
    ("r2", {TRAINING_DATA_TAG: "data/train.parquet"}, None, "runs:/r2/data/train.parquet"),
    ("r2", {TRAINING_DATA_TAG: "/data/train.csv"}, "inline", "runs:/r2/data/train.csv"),
    ("r2", {TRAINING_DATA_TAG: "runs:/r0/x.parquet"}, None, "runs:/r0/x.parquet"),
    (None, {TRAINING_DATA_TAG: "mlflow-artifacts:/0/a/x.csv"}, None, "mlflow-artifacts:/0/a/x.csv"),
    ("r2", {}, "runs:/r1/data/train.parquet", "runs:/r2/data/train.parquet"),
    ("r2", {}, "inline", None),
    (None, {}, "runs:/r1/data/train.parquet", None),
    (None, {TRAINING_DATA_TAG: "data/train.parquet"}, None, None),
])
def test_a_versions_training_data_is_its_tag_else_its_runs_artifact_at_the_references_path(
        run_id: str | None, tags: dict[str, str], previous: str | None, found: str | None) -> None:
    assert training_data_of(run_id, tags, previous) == found


def _samples(rows: int, shift: float, version: str, start: float) -> list[PredictionSample]:
    rng = np.random.default_rng(int(start))
    return [PredictionSample("m", f"{version}-{start}-{i}", 0, start + i / 1000, {"x": float(v)}, 0.0, version=version)
            for i, v in enumerate(rng.normal(size=rows) + shift)]


def test_a_followed_reference_is_compared_only_with_what_its_version_answered_since() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    new_data = pd.DataFrame({"x": np.random.default_rng(1).normal(size=1000) + 3.0})
    store.add_samples(_samples(300, 0.0, "uuid-1", time.time() - 100))  # the old population, version 1
    origin = data_origin("runs:/r2/data/train.parquet", "champion", "2", "models:/m@champion", "uuid-2")
    monitor.set_reference(new_data, origin=followed(origin, {"version": "1", "data": "inline"}))
    store.add_samples(_samples(100, 0.0, "uuid-1", time.time()))  # version 1 still answered a little longer
    report, _ = monitor.check_drift()
    assert report.current_rows == 0
    store.add_samples(_samples(200, 3.0, "uuid-2", time.time()))
    report, _ = monitor.check_drift()
    assert report.current_rows == 200 and report.drifted == []


def test_a_check_without_a_verdict_keeps_a_drift_firing_until_a_check_finds_it_gone() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(pd.DataFrame({"x": np.random.default_rng(1).normal(size=1000)}))
    store.add_samples(_samples(200, 3.0, "u", 1.0))
    _, fired = monitor.check_drift()
    assert [(s.labels["feature"], s.status) for s in fired] == [("x", "firing")]

    # The reference is replaced by data like the traffic; a check over too few samples has no verdict.
    monitor.set_reference(pd.DataFrame({"x": np.random.default_rng(2).normal(size=1000) + 3.0}))
    report, quiet = ModelMonitor(store, "m", drift_policy=DriftPolicy(window=20)).check_drift()
    assert quiet == [] and report.features[0].note

    # Enough samples like the reference: the drift that fired is resolved.
    store.add_samples(_samples(200, 3.0, "u", 20.0))
    _, resolved = monitor.check_drift()
    assert [(s.labels["feature"], s.status) for s in resolved] == [("x", "resolved")]


def test_live_performance_after_the_alias_moved_measures_what_the_new_version_answered() -> None:
    """A retrain that promoted version 2 is judged on version 2's answers: labels arriving late for what
    version 1 answered (all wrong here) neither keep the breach firing nor fire it again."""
    from opsloop.mlops.monitoring import GroundTruth, PerformancePolicy

    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", performance_policy=PerformancePolicy(min_accuracy=0.9, confidence=0))
    monitor.set_reference(pd.DataFrame({"x": np.random.default_rng(1).normal(size=1000)}))
    old = _samples(50, 0.0, "uuid-1", time.time() - 100)
    store.add_samples(old)
    store.add_labels([GroundTruth("m", s.request_id, 0, 1.0) for s in old[:40]])  # version 1 answered 0.0
    _, fired = monitor.check_performance()
    assert [(s.labels["metric"], s.status) for s in fired] == [("accuracy", "firing")]

    origin = data_origin("runs:/r2/data/train.parquet", "champion", "2", "models:/m@champion", "uuid-2")
    monitor.set_reference(pd.DataFrame({"x": np.random.default_rng(2).normal(size=1000)}),
                          origin=followed(origin, {"version": "1", "data": "inline"}))
    new = _samples(40, 0.0, "uuid-2", time.time())
    store.add_samples(new)
    store.add_labels([GroundTruth("m", s.request_id, 0, 0.0) for s in new])  # version 2 is right
    store.add_labels([GroundTruth("m", s.request_id, 0, 1.0) for s in old[40:]])  # late labels of version 1
    report, signals = monitor.check_performance()
    assert report.labelled == 40 and report.metrics["accuracy"] == 1.0
    assert [(s.labels["metric"], s.status) for s in signals] == [("accuracy", "resolved")]
