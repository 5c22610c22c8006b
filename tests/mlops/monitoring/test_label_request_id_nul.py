"""A label whose request id holds a NUL: PostgreSQL stores no NUL in text, so the post was a 500 there
(the batch's other labels lost); no scoring request has such an id (no HTTP header carries a NUL)."""

from __future__ import annotations

import time

import pytest

from opsloop.errors import InvalidInputError
from opsloop.mlops.monitoring import ModelMonitor, PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore


def test_a_request_id_with_a_nul_is_refused_naming_it_and_the_store_keeps_working(
        monitoring_store: MonitoringStore) -> None:
    monitoring_store.add_samples([PredictionSample("m", "r1", 0, time.time(), {"x": 1.0}, 1)])
    monitor = ModelMonitor(monitoring_store, "m")
    with pytest.raises(InvalidInputError) as err:
        monitor.post_labels({"labels": [{"request_id": "r1", "value": 1}, {"request_id": "r\x001", "value": 0}]})
    assert err.value.field == "request_id"
    assert monitor.post_labels({"request_id": "r1", "value": 1}) == {"received": 1, "matched": 1}
    assert [s.label for s in monitoring_store.list_samples("m")] == [1]
