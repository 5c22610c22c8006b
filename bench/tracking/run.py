"""Tracking server benchmark: MLflow's own server vs opsloop, same client, same work, one run.

    python bench/tracking/run.py [--single 2000] [--batches 40] [--sdk-points 200000] [--runs 5000]

Both servers run one worker process on an embedded SQLite store in a fresh temp folder. The
workload is driven by the unmodified ``mlflow`` client (and, for the SDK line, opsloop's SDK).
Prints each figure for both servers and the opsloop/MLflow ratio.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psutil
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True)
        if kind == "mlflow":
            self.cmd = [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
                        "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
                        "--port", str(self.port), "--workers", "1"]
        else:
            self.cmd = [str(BIN / "opsloop"), "server", "--port", str(self.port), "--data-dir", str(root)]
        self.log = open(root / "server.log", "wb")  # noqa: SIM115

    def start(self) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=0.5).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited; see {self.log.name}")
            time.sleep(0.02)

    def rss_mb(self) -> float:
        proc = psutil.Process(self.proc.pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def single_calls(client: MlflowClient, n: int) -> float:
    run_id = client.create_run("0").info.run_id
    t0 = time.perf_counter()
    for i in range(n):
        client.log_metric(run_id, "loss", random.random(), step=i)
    return n / (time.perf_counter() - t0)


def batch_calls(client: MlflowClient, batches: int) -> float:
    run_id = client.create_run("0").info.run_id
    payloads = [[Metric("loss", random.random(), int(time.time() * 1000), b * 1000 + i) for i in range(1000)]
                for b in range(batches)]
    t0 = time.perf_counter()
    for metrics in payloads:
        client.log_batch(run_id, metrics=metrics)
    return batches * 1000 / (time.perf_counter() - t0)


def sdk_rate(url: str, points: int) -> float | None:
    try:
        import opsloop
    except ImportError:
        return None
    if not hasattr(opsloop, "start_run"):
        return None
    t0 = time.perf_counter()
    with opsloop.start_run(experiment="bench-sdk", url=url) as run:
        for i in range(points):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
    return points / (time.perf_counter() - t0)


def populate(kind: str, root: Path, runs: int) -> str:
    """Write the search corpus straight through each product's own store (not what is measured)."""
    rng = random.Random(7)
    rows = [([(f"m{k}", rng.random()) for k in range(5)],
             [(f"p{k}", rng.choice("ab") if k == 0 else str(rng.randint(0, 9))) for k in range(5)],
             [(f"t{k}", rng.choice(["x", "y", "z"])) for k in range(3)]) for _ in range(runs)]
    name = f"search-{time.time_ns()}"
    if kind == "mlflow":
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = SqlAlchemyStore(f"sqlite:///{root}/mlflow.db", str(root / "artifacts"))
        exp = store.create_experiment(name)
        for metrics, params, tags in rows:
            run_id = store.create_run(exp, "bench", int(time.time() * 1000), [], None).info.run_id
            store.log_batch(run_id, [Metric(k, v, 0, 0) for k, v in metrics], [Param(k, v) for k, v in params],
                            [RunTag(k, v) for k, v in tags])
        return exp
    from opsloop.mlops.tracking.entities import Metric as OpsMetric
    from opsloop.storage.sql import open_database
    from opsloop.storage.sql.tracking import SqlTrackingStore

    store = SqlTrackingStore(open_database(f"sqlite:///{root}/opsloop.db"))
    exp = store.create_experiment(name)
    for metrics, params, tags in rows:
        run_id = store.create_run(exp, "bench").info.run_id
        store.log_batch(run_id, [OpsMetric(k, v, 0, 0) for k, v in metrics], dict(params), dict(tags))
    return exp


def raw_batch(url: str, run_id: str, batches: int) -> float:
    """Server-side rate: the same pre-serialised 1,000-point body posted with httpx to both servers."""
    bodies = [orjson.dumps({"run_id": run_id, "metrics": [
        {"key": "raw", "value": random.random(), "timestamp": 1, "step": b * 1000 + i} for i in range(1000)]})
        for b in range(batches)]
    with httpx.Client(base_url=url, timeout=60) as http:
        t0 = time.perf_counter()
        for body in bodies:
            http.post("/api/2.0/mlflow/runs/log-batch", content=body,
                      headers={"content-type": "application/json"}).raise_for_status()
        return batches * 1000 / (time.perf_counter() - t0)


def raw_search(url: str, exp: str, repeats: int) -> tuple[float, bytes]:
    body = {"experiment_ids": [exp], "filter": "metrics.m0 > 0.3 and params.p0 = 'a'",
            "order_by": ["metrics.m1 DESC"], "max_results": 1000}
    times, content = [], b""
    with httpx.Client(base_url=url, timeout=120) as http:
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = http.post("/api/2.0/mlflow/runs/search", json=body)
            times.append(time.perf_counter() - t0)
            content = response.raise_for_status().content
    return statistics.median(times), content


NULL_SERVER = """
import sys, uvicorn
search = open(sys.argv[2], "rb").read()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = search if scope["path"].endswith("/runs/search") else b"{}"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
"""


def client_floor(root: Path, search_body: bytes, args: argparse.Namespace) -> dict[str, float]:
    """The mlflow client against a server that answers instantly with canned bodies.

    No server can be faster than this one, so MLflow's figure divided by this one is the highest
    ratio any server could show through the unmodified client (the client's own cost: building
    and serialising requests, parsing responses).
    """
    (root / "floor").mkdir()
    body_file = root / "floor" / "search.json"
    body_file.write_bytes(search_body)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", NULL_SERVER, str(port), str(body_file)])
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                httpx.get(url + "/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        client = MlflowClient(url)
        run_id = "0" * 32
        payloads = [[Metric("loss", random.random(), int(time.time() * 1000), b * 1000 + i) for i in range(1000)]
                    for b in range(args.batches)]
        t0 = time.perf_counter()
        for metrics in payloads:
            client.log_batch(run_id, metrics=metrics)
        out = {"batch_pts_s": args.batches * 1000 / (time.perf_counter() - t0)}
        t0 = time.perf_counter()
        for i in range(args.single):
            client.log_metric(run_id, "loss", random.random(), step=i)
        out["single_pts_s"] = args.single / (time.perf_counter() - t0)
        out["search_s"], out["search_results"] = search_seconds(client, "0", args.repeats)
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def search_seconds(client: MlflowClient, exp: str, repeats: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        found = client.search_runs([exp], "metrics.m0 > 0.3 and params.p0 = 'a'", order_by=["metrics.m1 DESC"],
                                   max_results=1000)
        times.append(time.perf_counter() - t0)
        count = len(found)
    return statistics.median(times), count


def measure(kind: str, root: Path, args: argparse.Namespace) -> dict:
    server = Server(kind, root / kind)
    out: dict[str, float] = {"startup_s": server.start()}
    try:
        client = MlflowClient(server.url)
        out["single_pts_s"] = single_calls(client, args.single)
        out["batch_pts_s"] = batch_calls(client, args.batches)
        if kind == "opsloop":
            rate = sdk_rate(server.url, args.sdk_points)
            if rate is not None:
                out["sdk_pts_s"] = rate
        out["raw_batch_pts_s"] = raw_batch(server.url, client.create_run("0").info.run_id, args.batches)
        exp = populate(kind, root / kind, args.runs)
        out["search_s"], out["search_results"] = search_seconds(client, exp, args.repeats)
        out["raw_search_s"], body = raw_search(server.url, exp, args.repeats)
        if kind == "opsloop":
            out["search_body"] = body  # type: ignore[assignment]
        time.sleep(1)
        out["rss_mb"] = server.rss_mb()
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=2000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--sdk-points", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="opsloop-bench-"))
    try:
        results = {kind: measure(kind, root, args) for kind in ("mlflow", "opsloop")}
        floor = client_floor(root, results["opsloop"]["search_body"], args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ml, ops = results["mlflow"], results["opsloop"]
    rows = [
        ("log_metric, one call at a time (points/s)", ml["single_pts_s"], ops["single_pts_s"], "higher"),
        ("log_batch of 1,000 (points/s)", ml["batch_pts_s"], ops["batch_pts_s"], "higher"),
        ("  same, server side: pre-serialised body (points/s)", ml["raw_batch_pts_s"], ops["raw_batch_pts_s"],
         "higher"),
        (f"search_runs {args.runs} runs -> 1,000 results (s)", ml["search_s"], ops["search_s"], "lower"),
        ("  same, server side: raw HTTP request (s)", ml["raw_search_s"], ops["raw_search_s"], "lower"),
        ("server RSS after workload (MiB)", ml["rss_mb"], ops["rss_mb"], "lower"),
        ("time to first /health (s)", ml["startup_s"], ops["startup_s"], "lower"),
    ]
    print(f"{'measure':46} {'MLflow':>12} {'opsloop':>12} {'advantage':>10}")
    for name, a, b, better in rows:
        adv = b / a if better == "higher" else a / b
        print(f"{name:46} {a:12.3f} {b:12.3f} {adv:9.1f}x")
    if "sdk_pts_s" in ops:
        print(f"{'opsloop SDK, 200k points (points/s)':46} {ml['single_pts_s']:12.1f} {ops['sdk_pts_s']:12.1f} "
              f"{ops['sdk_pts_s'] / ml['single_pts_s']:9.1f}x  (vs MLflow one call at a time)")
    else:
        print("opsloop SDK line skipped: opsloop.start_run is not available")
    print(f"search results: MLflow {int(ml['search_results'])}, opsloop {int(ops['search_results'])}")
    print("\nClient floor: the same mlflow client against a server that answers instantly with canned")
    print("bodies (opsloop's search response). MLflow's figure over this is the most any server could show.")
    print(f"{'measure':46} {'floor':>12} {'max possible':>12} {'opsloop':>10}")
    for name, key, better in (("log_metric, one call at a time (points/s)", "single_pts_s", "higher"),
                              ("log_batch of 1,000 (points/s)", "batch_pts_s", "higher"),
                              ("search_runs -> 1,000 results (s)", "search_s", "lower")):
        cap = floor[key] / ml[key] if better == "higher" else ml[key] / floor[key]
        got = ops[key] / ml[key] if better == "higher" else ml[key] / ops[key]
        print(f"{name:46} {floor[key]:12.3f} {cap:11.1f}x {got:9.1f}x")


if __name__ == "__main__":
    main()
