"""A server killed with SIGKILL loses nothing it acknowledged; concurrent HTTP writers lose nothing."""

from __future__ import annotations

import threading
import time

import httpx
from tests._writers import post_until_stopped

API = "/api/2.0/mlflow"


def _create_run(url: str) -> str:
    return httpx.post(f"{url}{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]


def _history(url: str, run_id: str, key: str) -> list[dict]:
    resp = httpx.get(f"{url}{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
    return resp.json().get("metrics", [])


def test_sigkill_mid_logging_keeps_every_acknowledged_point(opsloop_server, tmp_path) -> None:  # noqa: ANN001
    data_dir = tmp_path / "data"
    server = opsloop_server(data_dir)
    run_id = _create_run(server.url)
    acked_single: list[int] = []
    acked_batches: list[int] = []
    stop = threading.Event()

    def single_body(step: int) -> dict:
        return {"run_id": run_id, "key": "single", "value": step, "timestamp": step, "step": step}

    def batch_body(batch: int) -> dict:
        return {"run_id": run_id, "metrics": [
            {"key": "batch", "value": i, "timestamp": batch, "step": batch * 500 + i} for i in range(500)]}

    single = threading.Thread(target=post_until_stopped, args=(server.url, f"{API}/runs/log-metric", single_body, acked_single,
                                                    stop))
    batches = threading.Thread(target=post_until_stopped, args=(server.url, f"{API}/runs/log-batch", batch_body, acked_batches,
                                                     stop))
    threads = [single, batches]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 120  # a bound, not a pace: on a loaded 2-core machine 200 posts took 17 s
    while (len(acked_single) < 200 or len(acked_batches) < 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL while both writers are mid-request
    stop.set()
    for th in threads:
        th.join()
    assert len(acked_single) >= 200 and len(acked_batches) >= 10

    restarted = opsloop_server(data_dir)
    single_steps = {m["step"] for m in _history(restarted.url, run_id, "single")}
    assert set(acked_single) <= single_steps
    batch_steps = {m["step"] for m in _history(restarted.url, run_id, "batch")}
    for batch in acked_batches:
        assert set(range(batch * 500, batch * 500 + 500)) <= batch_steps
    # Batches are atomic: every stored batch is complete, acknowledged or not.
    assert len(batch_steps) % 500 == 0
    # And the store keeps working after the crash.
    r = httpx.post(f"{restarted.url}{API}/runs/log-metric",
                   json={"run_id": run_id, "key": "after", "value": 1, "timestamp": 1, "step": 0})
    assert r.status_code == 200


def test_sixteen_concurrent_http_writers_lose_nothing(server) -> None:  # noqa: ANN001
    shared = _create_run(server.url)
    own = [_create_run(server.url) for _ in range(8)]
    failures: list[str] = []

    def writer(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for step in range(25):
                target = shared if i >= 8 else own[i]
                r = c.post(f"{API}/runs/log-metric",
                           json={"run_id": target, "key": f"w{i}", "value": step, "timestamp": step, "step": step})
                if r.status_code != 200:
                    failures.append(r.text)
                r = c.post(f"{API}/runs/log-batch", json={"run_id": shared, "params": [{"key": f"p{i}", "value": "v"}],
                                                         "tags": [{"key": f"t{i}", "value": str(step)}]})
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    for i in range(16):
        target = shared if i >= 8 else own[i]
        assert [m["step"] for m in _history(server.url, target, f"w{i}")] == list(range(25))
    run = httpx.get(f"{server.url}{API}/runs/get", params={"run_id": shared}).json()["run"]
    assert len(run["data"]["params"]) == 16
    assert {t["key"]: t["value"] for t in run["data"]["tags"]}["t15"] == "24"
