"""``opsloop server --workers N`` runs the monitoring schedule in one worker: the one holding the lock
file in the data dir. So drifted traffic is checked once and each drifted feature fires one signal,
not one per worker; and when the holder lets go, another worker takes the schedule over."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from tests._models import register_sklearn_champion
from tests.conftest import wait_until

from opsloop.mlops.monitoring.schedule_lock import ScheduleLock
from opsloop.server.monitoring import SCHEDULE_LOCK

MON = "/api/opsloop/v1/monitoring"


def test_one_lock_holder_at_a_time_and_another_takes_over_when_it_lets_go(tmp_path: Path) -> None:
    first, second = ScheduleLock(tmp_path / SCHEDULE_LOCK), ScheduleLock(tmp_path / SCHEDULE_LOCK)
    assert first.acquire() and first.acquire()  # held: asking again keeps it
    assert not second.acquire() and not second.held
    first.release()
    assert second.acquire() and second.held
    assert not first.acquire()
    second.release()


def test_with_two_workers_drifted_traffic_is_checked_once(opsloop_server, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    server = opsloop_server(extra=["--workers", "2"], env={"OPSLOOP_MONITORING__SAMPLE_RATE": "1",
                                                           "OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "0.5"})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    model = "fraud-workers"
    assert register_sklearn_champion(server.url, model) == "1"
    rng = np.random.default_rng(3)
    http = httpx.Client(base_url=server.url, timeout=60.0)
    reference = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    r = http.post(f"{MON}/models/{model}/reference", json={"dataframe_records": reference.to_dict(orient="records")})
    assert r.status_code == 200, r.text

    drifted = pd.DataFrame({"a": rng.normal(size=100) + 4.0, "b": rng.normal(size=100)})
    r = http.post(f"/serving/{model}/champion/invocations",
                  json={"dataframe_split": {"columns": ["a", "b"], "data": drifted.to_numpy().tolist()}})
    assert r.status_code == 200, r.text

    def firing() -> list[dict]:
        signals = http.get(f"{MON}/signals", params={"model": model, "kind": "model_drift"}).json()["signals"]
        return [s for s in signals if s["labels"]["feature"] == "a" and s["status"] == "firing"]

    wait_until(firing, timeout=60)
    time.sleep(3)  # several rounds of both workers: a second schedule would have checked the samples too
    assert len(firing()) == 1
    assert len(http.get(f"{MON}/models/{model}/drift", params={"limit": 10}).json()["reports"]) == 1
    assert (server.data_dir / SCHEDULE_LOCK).read_text().strip().isdigit()  # the holder's pid
