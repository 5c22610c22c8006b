"""AIOps leadership in-process: two apps on one data dir share one pipeline, the follower answers 503
(``Retry-After: 1``) while no leader answers, and takes over once the lock is free."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from tests.aiops.ingestion._helpers import alert, am_payload
from tests.conftest import wait_until

from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.mlops.monitoring.schedule_lock import ScheduleLock
from opsloop.server.aiops.forwarding import FORWARDED_HEADER
from opsloop.server.aiops.leader import LOCK_FILE
from opsloop.server.app import create_app
from opsloop.settings import Settings, load_settings

API = "/api/opsloop/v1"


def _settings(data: Path) -> Settings:
    return load_settings({"storage": {"data_dir": str(data)}}, environ={})


def _drift(t: float, feature: str) -> Signal:
    return Signal(time=t, source="monitor:drift", kind=SignalKind.MODEL_DRIFT, service="fraud",
                  labels={"model": "fraud", "feature": feature}, severity=Severity.WARNING,
                  text=f"{feature} drifted", values={"psi": 0.4})


def test_a_follower_answers_503_while_no_leader_answers_then_takes_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    holder = ScheduleLock(data / LOCK_FILE)  # a leader that is gone without its socket
    assert holder.acquire()
    try:
        with TestClient(create_app(_settings(data))) as client:
            assert client.app.state.aiops_leadership.following  # type: ignore[attr-defined]
            for method, path in [("GET", API + "/incidents"), ("POST", API + "/ingest/alertmanager"),
                                 ("GET", API + "/topology"), ("POST", "/v1/logs")]:
                answer = client.request(method, path, json=am_payload([alert("Down", "api")]))
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["retry-after"] == "1"
                assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert client.get("/health").status_code == 200  # the rest is answered here
            assert client.post("/api/2.0/mlflow/experiments/create", json={"name": "e"}).status_code == 200

            holder.release()
            wait_until(lambda: client.get(API + "/incidents").status_code == 200, timeout=30)
            assert client.app.state.aiops is not None  # type: ignore[attr-defined]
            answer = client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "api")]))
            assert answer.status_code == 200, answer.text
    finally:
        holder.release()


def test_two_apps_on_one_data_dir_correlate_in_the_one_that_leads(tmp_path: Path) -> None:
    data = tmp_path / ("a-data-dir-too-deep-for-a-unix-socket-path-" * 3)  # the socket goes to the temp dir
    with TestClient(create_app(_settings(data))) as leader, TestClient(create_app(_settings(data))) as follower:
        assert leader.app.state.aiops_leadership.leading  # type: ignore[attr-defined]
        assert Path(leader.app.state.aiops_leadership.socket).parent == Path(tempfile.gettempdir())  # type: ignore[attr-defined]
        assert follower.app.state.aiops_leadership.following  # type: ignore[attr-defined]
        now = time.time()
        first = leader.post(API + "/events", json=_drift(now - 60, "amount").to_dict())
        assert first.status_code == 200, first.text
        # the follower's monitoring hands its signals to the leader, which knows the open incident
        follower.app.state.model_monitoring.open_incidents([_drift(now, "age")])  # type: ignore[attr-defined]
        [incident] = follower.get(API + "/incidents").json()["incidents"]
        assert incident["signal_count"] == 2 and incident["service"] == "fraud"

        answer = follower.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "api")]))
        assert answer.status_code == 200 and answer.json()["status"] == "success"
        assert follower.get(API + "/incidents").json() == leader.get(API + "/incidents").json()
        refused = follower.post(API + "/silences", json={"matchers": "not a list"})
        assert refused.status_code in (400, 422) and refused.json()["field"]
        looped = follower.get(API + "/incidents", headers={FORWARDED_HEADER: "10.0.0.1"})
        assert looped.status_code == 503  # a follower never forwards a forwarded request again
