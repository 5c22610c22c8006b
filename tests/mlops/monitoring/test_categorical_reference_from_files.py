"""A categorical feature of a reference read from a CSV or Parquet file and the same feature as requests
send it: missing strings are NaN in the file and null in JSON, a column of small integers with a gap is
read as floats (``2.0``) and sent as JSON integers (``2``). Unchanged data drifted on each of them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSample


def _served(rng: np.random.Generator, n: int) -> list[PredictionSample]:
    """``n`` rows as JSON requests carry them: null for a missing value, whole numbers as integers."""
    now = time.time()
    rows = []
    for i in range(n):
        plan = None if rng.random() < 0.3 else str(rng.choice(["basic", "pro", "team"]))
        children = None if rng.random() < 0.1 else int(rng.integers(0, 4))
        rows.append(PredictionSample("m", f"r{i}", 0, now + i / 1e3, {"plan": plan, "children": children}, 0))
    return rows


def _reference_csv(tmp_path: Path, rng: np.random.Generator, n: int = 3000) -> pd.DataFrame:
    plan = rng.choice(["basic", "pro", "team"], n).astype(object)
    plan[rng.random(n) < 0.3] = None
    children = rng.integers(0, 4, n).astype(float)
    children[rng.random(n) < 0.1] = np.nan
    pd.DataFrame({"plan": plan, "children": children}).to_csv(tmp_path / "train.csv", index=False)
    return pd.read_csv(tmp_path / "train.csv")  # plan: str and NaN; children: 0.0, 1.0, … and NaN


def test_unchanged_categorical_data_from_a_csv_reference_does_not_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(_reference_csv(tmp_path, rng))
    store.add_samples(_served(rng, 600))
    report, signals = monitor.check_drift()
    assert report.drifted == [], [(f.feature, f.statistics) for f in report.features]
    assert signals == []
    by_name = {f.feature: f for f in report.features}
    # the missing values count as missing on both sides, not as a category "nan"
    assert "nan" not in by_name["plan"].histogram["categories"]
    assert 0.25 < by_name["plan"].statistics["reference_missing_share"] < 0.35
    assert sorted(by_name["children"].histogram["categories"]) == ["0", "1", "2", "3"]


def test_categorical_chi_square_is_scipys_over_the_present_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    reference = _reference_csv(tmp_path, rng)
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(reference)
    served = _served(rng, 800)
    store.add_samples(served)
    report, _ = monitor.check_drift()
    got = next(f for f in report.features if f.feature == "children")
    ref_counts = reference["children"].dropna().astype(int).value_counts().sort_index()
    cur = pd.Series([s.features["children"] for s in served]).dropna().astype(int).value_counts().sort_index()
    expected = ref_counts.to_numpy() / ref_counts.sum() * cur.sum()
    chi2, pvalue = stats.chisquare(cur.to_numpy(), f_exp=expected)
    assert abs(got.statistics["chi2"] - chi2) < 1e-2 * chi2
    assert abs(got.statistics["chi2_pvalue"] - pvalue) < 1e-2
    assert got.current_rows == cur.sum()


def test_a_profile_stored_with_float_keys_reads_integers_as_the_same_categories() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    # a reference profiled before whole numbers were one category kept the floats' keys ("1.0")
    store.save_reference("m", {"rows": 1000, "created": 0.0, "features": {"children": {
        "kind": "categorical", "rows": 1000, "proportions": {"0.0": 0.25, "1.0": 0.25, "2.0": 0.25, "3.0": 0.25}}}})
    now = time.time()
    store.add_samples([PredictionSample("m", f"r{i}", 0, now + i / 1e3, {"children": i % 4}, 0) for i in range(400)])
    report, _ = monitor.check_drift()
    assert report.drifted == []


def test_new_categories_are_drawn_by_name_in_the_histogram() -> None:
    """Categories the reference never saw were drawn as one ``__other__`` bar: which ones came was not told."""
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m")
    monitor.set_reference(pd.DataFrame({"plan": ["basic", "pro", "team"] * 100}))
    now = time.time()
    plans = ["basic", "pro", "enterprise", "gold"] * 50
    store.add_samples([PredictionSample("m", f"r{i}", 0, now + i / 1e3, {"plan": p}, 0) for i, p in enumerate(plans)])
    report, _ = monitor.check_drift()
    (plan,) = report.features
    assert plan.drifted
    drawn = dict(zip(plan.histogram["categories"], zip(plan.histogram["reference"], plan.histogram["current"],
                                                       strict=True), strict=True))
    assert drawn == {"basic": (100, 50), "pro": (100, 50), "team": (100, 0), "enterprise": (0, 50), "gold": (0, 50)}
