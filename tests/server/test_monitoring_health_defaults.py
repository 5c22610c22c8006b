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
