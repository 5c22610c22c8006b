"""Server-wide health thresholds (``monitoring.health``, OPSLOOP_MONITORING__HEALTH__...): every check a
model's reference does not set uses them; a bad one is refused naming the setting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.server._monitoring import server_monitoring

from opsloop.errors import InvalidInputError
from opsloop.mlops.monitoring.health import HealthPolicy
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.settings import load_settings


def test_checks_a_reference_does_not_set_use_the_servers_thresholds(tmp_path: Path) -> None:
    with server_monitoring(tmp_path, health={"max_error_rate": 0.5, "window_s": 600, "max_latency_p99_s": None}) as m:
        assert m.health_policy("unreferenced") == HealthPolicy(window_s=600.0, max_error_rate=0.5,
                                                               max_latency_p99_s=None)
        frame = pd.DataFrame({"a": [float(i) for i in range(100)]})
        ModelMonitor(m.store, "strict").set_reference(frame, policies={"health": {"max_error_rate": 0.01}})
        assert m.health_policy("strict") == HealthPolicy(window_s=600.0, max_error_rate=0.01, max_latency_p99_s=None)


def test_health_thresholds_come_from_the_environment_and_bad_ones_name_the_setting() -> None:
    env = {"OPSLOOP_MONITORING__HEALTH__MIN_REQUESTS": "50", "OPSLOOP_MONITORING__HEALTH__MAX_LATENCY_P99_S": "off"}
    health = load_settings(environ=env, config_file=Path("/nonexistent")).monitoring.health
    assert (health.min_requests, health.max_latency_p99_s, health.max_error_rate) == (50, None, 0.05)
    for name, value in [("MAX_ERROR_RATE", "2"), ("WINDOW_S", "7200"), ("MIN_REQUESTS", "0"),
                        ("MAX_LATENCY_P99_S", "0"), ("RESOLVE_RATIO", "high")]:
        with pytest.raises(InvalidInputError) as caught:
            load_settings(environ={f"OPSLOOP_MONITORING__HEALTH__{name}": value}, config_file=Path("/nonexistent"))
        assert caught.value.field == f"monitoring.health.{name.lower()}"


def test_a_references_thresholds_show_the_servers_health_defaults_when_set_and_when_read(tmp_path: Path) -> None:
    """``thresholds.health`` of a reference is what its checks use, whether it is read back (``GET``, the
    model's status) or answered when set: the reference's own, the server's for the rest."""
    from fastapi.testclient import TestClient

    from opsloop.server.app import create_app

    mon = "/api/opsloop/v1/monitoring"
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}, "monitoring": {
        "drift_interval_s": 0, "health": {"max_error_rate": 0.5, "window_s": 600}}}, environ={})
    with TestClient(create_app(settings)) as http:
        assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"}).status_code == 200
        body = {"dataframe_split": {"columns": ["a"], "data": [[float(i)] for i in range(60)]},
                "health": {"min_requests": 5}}
        set_answer = http.post(f"{mon}/models/m/reference", json=body).json()["thresholds"]["health"]
        read = http.get(f"{mon}/models/m/reference").json()["thresholds"]["health"]
        status = http.get(f"{mon}/models/m").json()["reference"]["thresholds"]["health"]
        assert set_answer == read == status
        assert (read["max_error_rate"], read["window_s"], read["min_requests"]) == (0.5, 600.0, 5)
