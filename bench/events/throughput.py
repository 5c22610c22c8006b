"""Ingestion throughput on the embedded store: OTLP/JSON log records per second and Alertmanager alerts
per second, over HTTP to a real ``opsloop server``, with nothing dropped.

Usage:
    python bench/events/throughput.py [--records 200000] [--batch 1000] [--alerts 50000]
                                      [--alert-batch 100] [--clients 2] [--workers 1] [--json out.json]

The server runs as its own process (one worker, SQLite in a temporary folder, default settings: log
records go through the log template miner, alerts through correlation with a declared topology of
500 services). Bodies are built before the clock starts; ``--clients`` threads post them over
keep-alive connections (a 429 is waited out and re-sent, and counted). Afterwards the store itself
is read: every record and alert sent must be there exactly once, or the run reports what is missing.
Rates are wall-clock from the first request to the last answer; the server's CPU seconds are shown
too, since the client threads share the same 2 cores.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil

BIN = str(Path(sys.executable).with_name("opsloop"))
TEMPLATES = [
    "GET /api/v1/items/{n} 200 {ms}ms",
    "POST /api/v1/orders user={u} total={n}.{ms} EUR",
    "cache miss for key session:{u}:{n}",
    "db query took {ms} ms rows={n}",
    "payment authorised for order {n} via provider-{u}",
    "WARN retrying upstream call attempt={u} after {ms}ms",
    "ERROR connection reset by peer while reading from 10.0.{u}.{n}",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kv(k: str, v: str) -> dict:
    return {"key": k, "value": {"stringValue": v}}


def log_bodies(n: int, batch: int, rng: random.Random) -> list[bytes]:
    t0 = time.time() - 600
    out = []
    for b in range(0, n, batch):
        svc = f"svc-{(b // batch) % 20}"
        records = []
        for i in range(b, min(n, b + batch)):
            text = rng.choice(TEMPLATES).format(n=rng.randrange(10_000), ms=rng.randrange(500), u=rng.randrange(50))
            sev = 17 if text.startswith("ERROR") else 13 if text.startswith("WARN") else 9
            records.append({"timeUnixNano": str(int((t0 + i * 0.001) * 1e9)), "severityNumber": sev,
                            "body": {"stringValue": text},
                            "attributes": [_kv("http.route", f"/api/v1/r{i % 7}")],
                            "traceId": f"{rng.getrandbits(128):032x}", "spanId": f"{rng.getrandbits(64):016x}"})
        out.append(orjson.dumps({"resourceLogs": [{
            "resource": {"attributes": [_kv("service.name", svc), _kv("host.name", f"node-{b % 7}"),
                                        _kv("k8s.pod.name", f"{svc}-7d9f-{b % 3}")]},
            "scopeLogs": [{"scope": {"name": "bench"}, "logRecords": records}]}]}))
    return out


def alert_bodies(n: int, batch: int, rng: random.Random) -> tuple[list[bytes], dict]:
    services = [f"svc-{i}" for i in range(500)]
    topology = {s: rng.sample(services[i + 1:], min(2, len(services) - i - 1)) for i, s in enumerate(services[:-1])}
    names = ["HighLatency", "HighErrorRate", "PodCrashLooping", "ServiceDown", "DiskPressure", "CPUThrottling"]
    t0 = time.time() - 1800
    alerts = []
    for i in range(n):
        svc = rng.choice(services)
        start = t0 + i * (1500 / n)
        alerts.append({"status": "firing",
                       "labels": {"alertname": rng.choice(names), "service": svc, "instance": f"{svc}-{i % 97}",
                                  "severity": rng.choice(["warning", "critical"]), "cluster": "prod",
                                  "shard": str(i)},
                       "annotations": {"summary": f"bench alert {i} on {svc}"},
                       "startsAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + ".000Z",
                       "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph"})
    bodies = [orjson.dumps({"version": "4", "status": "firing", "receiver": "opsloop", "groupLabels": {},
                            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                            "alerts": alerts[k:k + batch]}) for k in range(0, n, batch)]
    return bodies, {"services": topology}


def post_all(url: str, path: str, bodies: list[bytes], clients: int) -> dict:
    work: queue.Queue = queue.Queue()
    for b in bodies:
        work.put(b)
    latencies: list[float] = []
    counts = {"ok": 0, "limited": 0, "errors": 0}
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                while True:
                    t = time.perf_counter()
                    r = c.post(path, content=body, headers={"content-type": "application/json"})
                    dt = time.perf_counter() - t
                    if r.status_code == 429:
                        with lock:
                            counts["limited"] += 1
                        time.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    with lock:
                        latencies.append(dt)
                        counts["ok" if r.status_code < 300 else "errors"] += 1
                    if r.status_code >= 300:
                        print("error:", r.status_code, r.text[:200], file=sys.stderr)
                    break

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"seconds": elapsed, "requests": len(latencies), **counts,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def _cpu(proc: psutil.Process) -> float:
    """User + system CPU seconds of the server and its worker processes."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--alerts", type=int, default=50_000)
    ap.add_argument("--alert-batch", type=int, default=100)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1,
                    help="server worker processes (with several, one leads the AIOps pipeline and the others "
                         "forward to it; CPU is summed over all of them)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    logs = log_bodies(args.records, args.batch, rng)
    alerts, topology = alert_bodies(args.alerts, args.alert_batch, rng)
    results: dict = {"args": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([BIN, "server", "--port", str(port), "--data-dir", tmp, "--log-level", "warning",
                                   "--workers", str(args.workers)])
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start")
                time.sleep(0.1)
            httpx.put(url + "/api/opsloop/v1/topology", json=topology, timeout=30).raise_for_status()
            proc = psutil.Process(server.pid)
            for name, path, bodies, items in (("otlp_logs", "/v1/logs", logs, args.records),
                                              ("alertmanager", "/api/opsloop/v1/ingest/alertmanager", alerts,
                                               args.alerts)):
                cpu0 = _cpu(proc)
                r = post_all(url, path, bodies, args.clients)
                r["server_cpu_s"] = _cpu(proc) - cpu0
                r["items"] = items
                r["per_s"] = items / r["seconds"]
                r["per_server_cpu_s"] = items / r["server_cpu_s"]
                results[name] = r
        finally:
            server.terminate()
            server.wait(30)
        con = sqlite3.connect(f"{tmp}/opsloop.db")
        for name, kind in (("otlp_logs", "log"), ("alertmanager", "alert")):
            rows, total = con.execute("SELECT count(*), coalesce(sum(count), 0) FROM aiops_signals WHERE kind = ?",
                                      (kind,)).fetchone()
            results[name]["stored_rows"] = rows
            results[name]["dropped"] = results[name]["items"] - rows
        results["incidents"] = con.execute("SELECT count(*) FROM aiops_incidents").fetchone()[0]
        con.close()
    for name, unit in (("otlp_logs", "log records"), ("alertmanager", "alerts")):
        r = results[name]
        print(f"{name:13s} {r['items']:7d} {unit:11s} in {r['seconds']:6.2f}s = {r['per_s']:8.0f}/s "
              f"({r['per_server_cpu_s']:6.0f} per server CPU-s)  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
              f"429s {r['limited']}  errors {r['errors']}  stored {r['stored_rows']}  dropped {r['dropped']}")
    print(f"incidents opened from the alerts: {results['incidents']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
