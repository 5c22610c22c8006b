"""A reference set without ``ref`` before any request was served profiles the champion's predictions and
follows the ``champion`` alias: the newest version may be a candidate that failed its gate (helper-45
saw a gate-failed v7 profiled this way, its reference following nothing). Without a champion, the newest
version, as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.server._monitoring import server_monitoring

from opsloop.server.monitoring import ServerMonitoring


@pytest.fixture
def monitoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerMonitoring]:
    with server_monitoring(tmp_path) as mon:
        registry = mon.runtime.registry
        for name in ("churn", "fraud"):
            registry.create_registered_model(name)
            for k in (1, 2, 3):
                registry.create_model_version(name, f"s3://models/{name}/{k}")
        registry.set_registered_model_alias("churn", "champion", "1")  # 2 and 3: candidates that failed
        loaded: list[str] = []
        monkeypatch.setattr(mon, "_load", lambda uri, field: loaded.append(uri))  # no model files behind them
        yield mon


def test_without_ref_and_nothing_served_the_reference_profiles_the_champion(monitoring: ServerMonitoring) -> None:
    assert monitoring._model_for("churn", None)[1] == "models:/churn@champion"
    assert monitoring._model_for("fraud", None)[1] == "models:/fraud/3", "no champion: the newest version"
    assert monitoring._model_for("churn", "2")[1] == "models:/churn/2", "a ref given wins"
    rows = [{"a": float(v)} for v in np.random.default_rng(1).normal(size=200)]
    monitoring.set_reference(monitoring.monitor("churn"), {"dataframe_records": rows})
    profile = monitoring.store.get_reference("churn")
    assert profile is not None and profile["origin"]["alias"] == "champion", profile.get("origin")
