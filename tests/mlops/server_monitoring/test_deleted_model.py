"""A registered model deleted while its drift fired: each scheduled round logged a failed check of it (a
traceback every interval, for ever) and its incident stayed open. Its firing signals are now resolved once,
with the reason ``model_deleted``, and the rounds pass it by quietly."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from opsloop.core.signals import SignalKind
from opsloop.mlops.monitoring import PredictionSample
from opsloop.runtime import Runtime
from opsloop.server.monitoring import ServerMonitoring


def test_a_deleted_models_firing_drift_is_resolved_once_and_not_checked(runtime: Runtime,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    sent: list[dict] = []
    monitoring = ServerMonitoring(runtime, runtime.settings.monitoring, events=lambda b: sent.append(json.loads(b)))
    rng = np.random.default_rng(0)
    monitoring.set_reference(monitoring.monitor("m"),
                             {"dataframe_records": [{"x": float(v)} for v in rng.normal(size=500)]})
    now = time.time()
    monitoring.store.add_samples([PredictionSample("m", f"r{i}", 0, now + i / 1e3, {"x": float(v) + 3}, 0)
                                  for i, v in enumerate(rng.normal(size=200))])
    assert monitoring.check_all() == ["m"]
    assert [e["status"] for body in sent for e in body["events"]] == ["firing"]

    runtime.registry.delete_registered_model("m")
    with caplog.at_level(logging.ERROR, logger="opsloop.monitoring"):
        assert monitoring.check_all() == []
        assert monitoring.check_all() == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    events = [e for body in sent for e in body["events"]]
    assert [e["status"] for e in events] == ["firing", "resolved"]  # resolved once, not every round
    assert events[1]["fingerprint"] == events[0]["fingerprint"]
    assert events[1]["evidence"]["reason"] == "model_deleted"
    newest = monitoring.store.list_signals(model="m", kind=SignalKind.MODEL_DRIFT, limit=1)[0]
    assert newest.status == "resolved"


def test_a_deleted_model_is_not_listed_among_the_monitored_ones(runtime: Runtime) -> None:
    """It was listed by GET /models while its own GET /models/{model} answered 404 (the Deployments page)."""
    from starlette.testclient import TestClient

    monitoring = ServerMonitoring(runtime, runtime.settings.monitoring)
    runtime.registry.create_registered_model("kept")
    for name in ("m", "kept"):
        monitoring.set_reference(monitoring.monitor(name), {"dataframe_records": [{"x": float(i)} for i in range(60)]})
    runtime.registry.delete_registered_model("m")
    http = TestClient(monitoring.api)
    assert http.get("/models").json() == {"models": ["kept"]}
    assert http.get("/models/m").status_code == 404 and http.get("/models/kept").status_code == 200
