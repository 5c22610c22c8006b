"""A drift reference set with ``"drift": {"min_rows": 0}`` was stored as given; each check of a window whose
values of a feature were all missing then failed (a division by zero: a 500, and a schedule round lost)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import InvalidInputError
from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.drift import DriftPolicy
from opsloop.mlops.monitoring.reference import ReferenceRequest

ROWS = [{"x": float(i)} for i in range(60)]


def test_a_reference_asking_for_no_rows_per_verdict_is_refused_naming_the_threshold() -> None:
    with pytest.raises(InvalidInputError) as err:
        ReferenceRequest.parse({"dataframe_records": ROWS, "drift": {"min_rows": 0}})
    assert err.value.field == "drift.min_rows"
    assert ReferenceRequest.parse({"dataframe_records": ROWS, "drift": {"min_rows": 1}}).policies


def test_a_stored_policy_of_no_rows_still_checks_a_window_without_values() -> None:
    store = InMemoryMonitoringStore()
    monitor = ModelMonitor(store, "m", drift_policy=DriftPolicy(min_rows=0))
    monitor.set_reference(pd.DataFrame({"x": np.arange(100.0), "c": list("ab") * 50}))
    now = time.time()
    store.add_samples([PredictionSample("m", f"r{i}", 0, now + i, {"x": None, "c": None}, 0) for i in range(3)])
    report, _ = monitor.check_drift()
    by_name = {f.feature: f for f in report.features}
    # every value missing where the reference had all of them: drift, as with the default policy
    assert by_name["x"].drifted and by_name["c"].drifted
