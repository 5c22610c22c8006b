"""Champion against challenger on the same shadowed rows: agreement for any prediction, a mean absolute
difference only between numbers (a classifier's labels, as strings or booleans, have no distance)."""

from __future__ import annotations

from typing import Any

import pytest

from opsloop.mlops.monitoring.memory import InMemoryMonitoringStore
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.mlops.monitoring.records import PredictionSample


def _compare(champion: list[Any], challenger: list[Any]) -> dict[str, Any]:
    store = InMemoryMonitoringStore()
    store.add_samples([PredictionSample("m", f"r{i}", 0, float(i), {}, p, variant=v)
                       for v, preds in (("champion", champion), ("challenger", challenger))
                       for i, p in enumerate(preds)])
    return ModelMonitor(store, "m").comparison()


def test_numbers_have_a_mean_absolute_difference() -> None:
    doc = _compare([1.0, 2, 3.5, float("nan")], [1.5, 2, 3.0, 1.0])
    assert doc["pairs"] == 4 and doc["agreement"] == 0.25
    assert doc["mean_abs_difference"] == pytest.approx(1 / 3)  # the NaN pair has no distance


@pytest.mark.parametrize(("champion", "challenger"), [(["1", "0"], ["1", "1"]), ([True, False], [True, True]),
                                                     ([1, 0], ["1", "0"])])
def test_labels_agree_or_not_and_have_no_distance(champion: list[Any], challenger: list[Any]) -> None:
    doc = _compare(champion, challenger)
    assert "mean_abs_difference" not in doc and doc["pairs"] == 2
