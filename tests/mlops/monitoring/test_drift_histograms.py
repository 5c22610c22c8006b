"""Drift reports carry the reference and current distributions, bounded, into the drift signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tests.mlops.monitoring.test_drift_and_performance import drift_amount, reference, samples_from

from opsloop.mlops.monitoring import (
    DriftReport,
    InMemoryMonitoringStore,
    ModelMonitor,
    build_profile,
    compute_drift,
)
from opsloop.mlops.monitoring.records import HISTOGRAM_MAX_BINS


def test_numeric_feature_has_reference_and_current_counts_over_the_decile_bins() -> None:
    profile = build_profile(reference())
    shifted = reference(800, seed=3)
    shifted["amount"] += 15
    by = {f.feature: f for f in compute_drift("m", profile, samples_from(shifted)).features}
    hist = by["amount"].histogram
    assert len(hist["bins"]) == len(hist["reference"]) == len(hist["current"]) == len(hist["edges"]) + 1 == 10
    assert sum(hist["current"]) == 800
    assert abs(sum(hist["reference"]) - 3000) <= len(hist["bins"])  # proportions x rows, rounded
    assert hist["bins"][0].startswith("< ") and hist["bins"][-1].startswith("≥ ")
    assert hist["current"][-1] > 3 * hist["reference"][-1] * 800 / 3000  # the shift piles into the top bin


def test_categorical_feature_has_category_counts() -> None:
    profile = build_profile(reference())
    hist = {f.feature: f for f in compute_drift("m", profile, samples_from(reference(500, seed=1))).features}[
        "channel"].histogram
    assert sorted(hist["categories"]) == ["app", "shop", "web"] and hist["bins"] == hist["categories"]
    assert sum(hist["current"]) == 500 and sum(hist["reference"]) == 3000


def test_many_categories_fold_into_other_within_the_bound() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(40)], 4000)})
    cur = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(30, 45)], 600)})
    hist = compute_drift("m", build_profile(ref), samples_from(cur)).features[0].histogram
    assert len(hist["bins"]) == HISTOGRAM_MAX_BINS and hist["bins"][-1] == "__other__"
    assert sum(hist["current"]) == 600 and sum(hist["reference"]) == 4000


def test_no_verdict_means_no_histogram_and_reports_round_trip_with_it() -> None:
    profile = build_profile(reference())
    report = compute_drift("m", profile, samples_from(reference(10, seed=1)))
    assert all(f.histogram is None for f in report.features)
    full = compute_drift("m", profile, samples_from(reference(300, seed=1)))
    assert DriftReport.from_dict(full.to_dict()).to_dict() == full.to_dict()


def test_drift_signal_evidence_carries_the_histogram() -> None:
    monitor = ModelMonitor(InMemoryMonitoringStore(), "fraud")
    drift_amount(monitor)
    _, [signal] = monitor.check_drift()
    hist = signal.to_dict()["evidence"]["drift"]["histogram"]
    assert len(hist["bins"]) <= HISTOGRAM_MAX_BINS and sum(hist["current"]) == 600
