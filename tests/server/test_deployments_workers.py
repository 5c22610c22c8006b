"""``opsloop server --workers 2``: whichever worker answers, the deployments API and a model's
``/metrics`` count the requests of every worker, and totals never go backwards, even when a worker is
killed and uvicorn starts another in its place."""

from __future__ import annotations

import contextlib
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import psutil
import pytest
from tests._models import register_sklearn_champion
from tests.conftest import wait_until

from opsloop.mlops.serving.metrics import STATUS_CLASSES, ServingMetrics
from opsloop.server.deployment_counters import SharedCounters, counters_directory, counters_root
from opsloop.server.deployments import DeploymentTracker
from opsloop.settings import load_settings

DEPLOYMENTS = "/api/opsloop/v1/deployments"
MODEL = "churn-workers"
ROWS = {"dataframe_split": {"columns": ["a", "b"], "data": [[2.0, 2.0], [-2.0, -2.0]]}}


def _score(url: str, n: int) -> None:
    """``n`` scoring requests, each on a new connection (so the kernel hands them to either worker)."""
    def one(_: int) -> int:
        return httpx.post(f"{url}/serving/{MODEL}/champion/invocations", json=ROWS, timeout=60).status_code

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(one, range(n))) == {200}


def _totals(url: str) -> list[int]:
    """The deployment's total requests as the list, the detail and ``/metrics`` say (new connections)."""
    [listed] = [d for d in httpx.get(url + DEPLOYMENTS, timeout=30).json()["deployments"] if d["model"] == MODEL]
    detail = httpx.get(f"{url}{DEPLOYMENTS}/{MODEL}/champion", timeout=30).json()
    text = httpx.get(f"{url}/serving/{MODEL}/champion/metrics", timeout=30).text
    prom = sum(float(v) for v in re.findall(r'opsloop_serving_requests_total\{[^}]*\} (\S+)', text))
    return [listed["requests"], detail["requests"], sum(detail["status_counts"].values()), int(prom)]


def _per_slot(data_dir: Path, supervisor: int) -> np.ndarray:
    """Requests counted in each worker slot's row of the deployment's shared table."""
    run = counters_directory(counters_root(load_settings({"storage": {"data_dir": data_dir}})),
                             psutil.Process(supervisor))
    [table] = run.glob("*.bin")
    rows = np.fromfile(table).reshape(3, -1)
    return rows[:, :len(STATUS_CLASSES)].sum(axis=1)


def test_two_workers_report_every_request_and_totals_never_go_backwards(
        opsloop_server, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    server = opsloop_server(extra=["--workers", "2"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    register_sklearn_champion(server.url, MODEL)
    sent = 0
    for _ in range(2):
        _score(server.url, 30)
        sent += 30
        for _ in range(6):  # reads on new connections land on either worker
            assert _totals(server.url) == [sent] * 4
    per_slot = _per_slot(server.data_dir, server.proc.pid)
    assert per_slot.sum() == sent
    assert (per_slot > 0).sum() == 2, f"one worker took every request: {per_slot}"

    [victim, _] = _workers(server.proc.pid)
    victim.send_signal(signal.SIGKILL)
    wait_until(lambda: len([w for w in _workers(server.proc.pid) if w.pid != victim.pid]) == 2, timeout=30)
    _score(server.url, 30)
    sent += 30
    for _ in range(6):
        assert _totals(server.url) == [sent] * 4
    assert _per_slot(server.data_dir, server.proc.pid).sum() == sent


def _workers(supervisor: int) -> list[psutil.Process]:
    """The server's worker processes (uvicorn spawns them; multiprocessing's resource tracker is no worker)."""
    found = []
    for child in psutil.Process(supervisor).children():
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


def test_a_deployment_one_worker_scored_is_listed_by_the_other_and_forgotten_once_unloaded(
        tmp_path: Path) -> None:
    uri = "models:/m@champion"
    first, second = SharedCounters.claim(tmp_path, 3), SharedCounters.claim(tmp_path, 3)
    assert first is not None and second is not None and first.slot != second.slot
    first.metrics_for(uri).observe_request(200, 0.002)
    first.refresh({uri})
    seen = second.refresh(set())
    assert seen[uri].snapshot().requests == 1
    assert second.loaded(uri) and not second.forget(uri)  # ``first`` has it loaded
    first.refresh(set())  # ``first`` dropped it from its cache
    second.refresh(set())
    assert not second.loaded(uri) and second.forget(uri)
    assert uri not in first.refresh(set()) and not list(tmp_path.glob("*.bin"))


def test_a_worker_taking_a_dead_workers_slot_adds_to_its_counts(tmp_path: Path) -> None:
    uri = "models:/m/1"
    first, second = SharedCounters.claim(tmp_path, 3), SharedCounters.claim(tmp_path, 3)
    assert first is not None and second is not None
    for _ in range(3):
        first.metrics_for(uri).observe_request(200, 0.002)
    second.metrics_for(uri).observe_request(400, 0.002, "bad_request")
    slot = first.slot
    first.close()  # the worker exits (its lock goes with it)
    again = SharedCounters.claim(tmp_path, 3)
    assert again is not None and again.slot == slot
    metrics = again.metrics_for(uri)
    metrics.observe_request(200, 0.002)
    snap = metrics.snapshot()
    assert (snap.requests, snap.errors) == (5, 1)
    assert SharedCounters.claim(tmp_path, 3) is not None and SharedCounters.claim(tmp_path, 3) is None


class _App:
    """What the tracker reads from a loaded scoring app: its metrics and its model's description."""

    def __init__(self, metrics: ServingMetrics, uuid: str) -> None:
        self.metrics = metrics
        self.slots = SimpleNamespace(champion=SimpleNamespace(describe=lambda: {"model_uuid": uuid}))


class _Scoring:
    def __init__(self) -> None:
        self.apps: dict[str, _App] = {}

    def served(self) -> dict[str, _App]:
        return dict(self.apps)


def test_a_worker_started_later_lists_earlier_totals_but_samples_only_what_came_after(tmp_path: Path) -> None:
    uri = "models:/m@champion"
    first = SharedCounters.claim(tmp_path, 3)
    assert first is not None
    scoring = _Scoring()
    scoring.apps[uri] = _App(first.metrics_for(uri), "u1")
    for _ in range(5):
        scoring.apps[uri].metrics.observe_request(200, 0.002)
    DeploymentTracker(lambda: scoring, first).refresh()  # type: ignore[arg-type, return-value]

    later = SharedCounters.claim(tmp_path, 3)
    assert later is not None
    tracker = DeploymentTracker(lambda: None, later)  # a worker started after the table was created
    scoring.apps[uri].metrics.observe_request(200, 0.002)  # one more, before this worker reads
    tracker.sample(2000.0)
    scoring.apps[uri].metrics.observe_request(500, 0.002, "internal")
    tracker.sample(2005.0)
    doc = tracker.detail(tracker.refresh()[uri])
    assert (doc["requests"], doc["errors"], doc["status"], doc["model_uuid"]) == (7, 1, "serving", "u1")
    assert [p["requests"] for p in doc["series"]] == [0, 1]
