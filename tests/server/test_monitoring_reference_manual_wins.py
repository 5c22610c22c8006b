"""A reference an operator sets while the schedule rebuilds it for a moved alias stays: the rebuild
(or its "behind" note) was derived from the reference it read, and is dropped when that one is no
longer the stored reference. The interleavings are forced by hooks at the rebuild's slow steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.server._monitoring import server_monitoring

from opsloop.mlops.monitoring import lineage
from opsloop.mlops.serving.router import model_uri_for
from opsloop.server.monitoring import ServerMonitoring

MODEL = "churn"
TRAINING_DATA = "runs:/r2/data/train.parquet"


def _rows(n: int, seed: int) -> list[dict[str, float]]:
    return [{"a": float(v)} for v in np.random.default_rng(seed).normal(size=n)]


@pytest.fixture
def monitoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerMonitoring]:
    with server_monitoring(tmp_path) as mon:
        registry = mon.runtime.registry
        registry.create_registered_model(MODEL)
        registry.create_model_version(MODEL, "s3://models/churn/1")
        registry.create_model_version(MODEL, "s3://models/churn/2", tags={lineage.TRAINING_DATA_TAG: TRAINING_DATA})
        registry.create_model_version(MODEL, "s3://models/churn/3")  # no training data known
        registry.set_registered_model_alias(MODEL, "champion", "1")
        # no model files behind these versions: the references profile the features only
        monkeypatch.setattr(mon, "_model_for", lambda name, ref: (None, model_uri_for(name, ref) if ref else None))
        mon.set_reference(mon.monitor(MODEL), {"dataframe_records": _rows(300, 1), "ref": "champion"})
        yield mon


def _operator_sets_the_reference(mon: ServerMonitoring) -> None:
    mon.set_reference(mon.monitor(MODEL), {"dataframe_records": _rows(123, 9), "ref": "1"})


def _stored(mon: ServerMonitoring) -> dict[str, Any]:
    profile = mon.store.get_reference(MODEL)
    assert profile is not None
    return profile


def test_a_manual_reference_set_while_the_rebuild_reads_its_data_stays(
        monitoring: ServerMonitoring, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def read(path: str) -> pd.DataFrame:  # the rebuild reads the new version's data; meanwhile the API sets one
        reads.append(path)
        _operator_sets_the_reference(monitoring)
        return pd.DataFrame(_rows(500, 2))

    monkeypatch.setattr(monitoring, "_read", read)
    monitoring.runtime.registry.set_registered_model_alias(MODEL, "champion", "2")
    assert monitoring.follow_served(MODEL) is False
    assert reads == [TRAINING_DATA]
    stored = _stored(monitoring)
    assert stored["rows"] == 123
    assert (stored["origin"]["set"], stored["origin"]["version"], stored["origin"]["alias"]) == ("api", "1", None)
    assert monitoring.follow_served(MODEL) is False  # pinned to version 1 now: nothing follows any more
    assert _stored(monitoring)["rows"] == 123


def test_a_manual_reference_set_while_the_rebuild_looks_for_training_data_is_not_marked_behind(
        monitoring: ServerMonitoring, monkeypatch: pytest.MonkeyPatch) -> None:
    original: Callable[..., str | None] = lineage.training_data_of

    def training_data_of(*args: Any) -> str | None:
        _operator_sets_the_reference(monitoring)
        return original(*args)

    monkeypatch.setattr(lineage, "training_data_of", training_data_of)
    monitoring.runtime.registry.set_registered_model_alias(MODEL, "champion", "3")
    assert monitoring.follow_served(MODEL) is False
    stored = _stored(monitoring)
    assert stored["rows"] == 123 and "behind" not in stored["origin"]


def test_without_a_concurrent_change_the_rebuild_and_the_behind_note_are_written(
        monitoring: ServerMonitoring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring, "_read", lambda path: pd.DataFrame(_rows(500, 2)))
    monitoring.runtime.registry.set_registered_model_alias(MODEL, "champion", "2")
    assert monitoring.follow_served(MODEL) is True
    stored = _stored(monitoring)
    assert (stored["rows"], stored["origin"]["set"], stored["origin"]["version"]) == (500, "followed", "2")

    monitoring.runtime.registry.set_registered_model_alias(MODEL, "champion", "3")
    assert monitoring.follow_served(MODEL) is False
    stored = _stored(monitoring)
    assert stored["rows"] == 500 and stored["origin"]["behind"]["version"] == "3"
