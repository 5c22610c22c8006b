"""``opsloop server --workers 2``: one AIOps pipeline per data dir, whichever worker a request reaches.

One worker leads (it holds ``aiops-leader.lock`` in the data dir and runs the pipeline); the other hands
it every AIOps request. Alerts of one fault open one incident, a merge done through either worker is
the one the correlator knows, Prometheus is pulled once per interval, and when the leader is killed
another worker takes over with the state rebuilt from the store (meanwhile: 503, Retry-After: 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import psutil
import pytest
from tests.aiops.ingestion._helpers import alert, am_payload
from tests.conftest import ServerProcess, wait_until

API = "/api/opsloop/v1"
WEBHOOK = API + "/ingest/alertmanager"
# db fails, and the three services calling it alert after it; search stands alone
TOPOLOGY = {"services": {"api": ["db"], "web": ["db"], "worker": ["db"]}}
FAULT = ["db", "api", "web", "worker"]


@pytest.fixture
def workers(opsloop_server, tmp_path: Path):  # noqa: ANN001, ANN201
    """Start ``opsloop server --workers 2`` with the declared topology (on every worker, from its start)."""
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))

    def start() -> ServerProcess:
        return opsloop_server(extra=["--workers", "2"], env={"OPSLOOP_TOPOLOGY__FILE": str(topology)}).aiops_ready()

    return start


def post(url: str, path: str, body: Any, *, retry_503: bool = False) -> httpx.Response:
    """One request on a new connection (so the kernel hands it to either worker)."""
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.post(url + path, json=body, timeout=60)
        if not (retry_503 and answer.status_code == 503 and time.monotonic() < deadline):
            return answer
        assert answer.headers["retry-after"] == "1" and answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        time.sleep(0.2)


def post_alerts(url: str, alerts: list[dict[str, Any]], *, retry_503: bool = False) -> None:
    """The first alert, then the others, each in a webhook of its own on a new connection, four at a time."""
    def one(a: dict[str, Any]) -> int:
        return post(url, WEBHOOK, am_payload([a]), retry_503=retry_503).status_code

    assert one(alerts[0]) == 200
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(one, alerts[1:])) == {200}


def fault_alerts(prefix: str, n: int, services: list[str] = FAULT) -> list[dict[str, Any]]:
    return [alert(f"{prefix}{i}", services[i % len(services)], instance=f"{prefix}-{i}") for i in range(n)]


def open_incidents(url: str) -> list[dict[str, Any]]:
    return [i for i in httpx.get(url + API + "/incidents", params={"limit": 100}, timeout=30).json()["incidents"]
            if i["state"] != "resolved"]


def incident_of(url: str, alertname: str) -> int:
    """The incident holding the signal of ``alertname``."""
    found = {i["id"] for i in open_incidents(url) for s in httpx.get(f"{url}{API}/incidents/{i['id']}",
                                                                     timeout=30).json()["signals"]
             if s["labels"].get("alertname") == alertname}
    assert len(found) == 1, f"{alertname} is in incidents {found}"
    return found.pop()


def leader_pid(server: ServerProcess) -> int:
    return int((server.data_dir / "aiops-leader.lock").read_text().strip() or 0)


def test_one_fault_alerting_through_both_workers_opens_one_incident_and_refusals_name_the_field(workers) -> None:  # noqa: ANN001
    server = workers()
    alerts = fault_alerts("HighLatency", 24)
    post_alerts(server.url, alerts)
    [incident] = open_incidents(server.url)
    assert incident["signal_count"] == len(alerts)
    assert set(incident["services"]) == set(FAULT)

    # a webhook with one refused alert, posted several times on new connections: the leader's 400 each
    # time, naming the refused item, and the valid alert in it still joins the incident
    bad = am_payload([alert("DiskFull", "db"), {**alert("Broken", "db"), "startsAt": "not a time"}])
    answers = [post(server.url, WEBHOOK, bad) for _ in range(6)]
    for answer in answers:
        assert answer.status_code == 400
        body = answer.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["accepted"] == 1
        assert "startsAt" in json.dumps(body["rejected"])
    for _ in range(6):
        missing = post(server.url, API + "/incidents/merge", {"source_ids": [incident["id"]]})
        assert missing.status_code == 422 and missing.json()["field"] == "target_id"
    [again] = open_incidents(server.url)
    assert again["id"] == incident["id"] and again["signal_count"] == len(alerts) + 1


def test_a_merge_through_either_worker_is_what_every_new_alert_joins(workers) -> None:  # noqa: ANN001
    server = workers()
    post_alerts(server.url, fault_alerts("PodCrash", 8))
    post_alerts(server.url, fault_alerts("IndexLag", 4, ["search"]))
    target, source = incident_of(server.url, "PodCrash0"), incident_of(server.url, "IndexLag0")
    assert target != source
    merged = post(server.url, API + "/incidents/merge", {"target_id": target, "source_ids": [source]})
    assert merged.status_code == 200, merged.text

    post_alerts(server.url, fault_alerts("IndexErrors", 8, ["search"]))  # related to the merged-in fault
    assert {incident_of(server.url, f"IndexErrors{i}") for i in range(8)} == {target}
    assert [i["id"] for i in open_incidents(server.url)] == [target]


class _Prometheus(BaseHTTPRequestHandler):
    """Answers ``query_range`` with one sample at ``end``, and keeps each call's window."""

    calls: list[tuple[float, float]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = parse_qs(urlparse(self.path).query)
        start, end = float(query["start"][0]), float(query["end"][0])
        type(self).calls.append((start, end))
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "queue_depth", "job": "worker"}, "values": [[end, "3"]]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[tuple[str, list[tuple[float, float]]]]:
    calls: list[tuple[float, float]] = []
    handler = type("Prometheus", (_Prometheus,), {"calls": calls})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", calls
    httpd.shutdown()
    httpd.server_close()


def test_prometheus_is_pulled_by_one_worker_only(workers, prometheus) -> None:  # noqa: ANN001
    server = workers()
    url, calls = prometheus
    query = {"name": "queue_depth", "url": url, "query": "queue_depth", "interval_s": 1, "step_s": 15,
             "lookback_s": 600}
    answer = httpx.put(server.url + API + "/aiops/config/prometheus_queries", json=[query], timeout=30)
    assert answer.status_code == 200, answer.text
    wait_until(lambda: len(calls) >= 5, timeout=60)
    # a puller's first call asks for the lookback window, each later one from where the last one ended
    firsts = [(s, e) for s, e in calls if e - s > 300]
    assert len(firsts) == 1, f"{len(firsts)} pullers: {calls}"
    windows = sorted(calls)
    assert all(later[0] > earlier[1] for earlier, later in zip(windows, windows[1:], strict=False)), windows


def test_when_the_leader_is_killed_another_worker_takes_over_with_the_open_incident(workers) -> None:  # noqa: ANN001
    server = workers()
    before = fault_alerts("Timeouts", 8)
    post_alerts(server.url, before)
    [incident] = open_incidents(server.url)
    leader = leader_pid(server)
    assert leader in {w.pid for w in psutil.Process(server.proc.pid).children()}

    os.kill(leader, signal.SIGKILL)
    after = fault_alerts("Errors", 8)
    post_alerts(server.url, after, retry_503=True)  # 503 until a worker has taken over
    new_leader = wait_until(lambda: _alive_leader(server, leader), timeout=30)
    assert new_leader != leader
    [still] = open_incidents(server.url)
    assert still["id"] == incident["id"] and still["signal_count"] == len(before) + len(after)
    assert {incident_of(server.url, a["labels"]["alertname"]) for a in before + after} == {incident["id"]}


def _alive_leader(server: ServerProcess, dead: int) -> int | None:
    with contextlib.suppress(ValueError, OSError):
        pid = leader_pid(server)
        if pid != dead and psutil.pid_exists(pid):
            return pid
    return None
