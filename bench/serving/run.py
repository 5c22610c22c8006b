"""Benchmark: `opsloop serve` against `mlflow models serve` on the same model, plus batch scoring.

    python bench/serving/run.py [--seconds 15] [--rounds 3] [--workers 2] [--batch-rows 1000000,10000000]

Trains one scikit-learn model (StandardScaler + LogisticRegression on 20 numeric features), saves
it with the real `mlflow` client, starts both servers on loopback with the same worker count, and
drives each with the same load generator (`wrk`, installed from Debian when missing, else a
threaded Python client) at three points: 1 row at concurrency 1, 1 row at concurrency 32, and
100 rows at concurrency 8. Each point runs in alternating rounds (mlflow, opsloop, mlflow, …) and
reports the median round, so a burst of load from elsewhere on a shared machine hits both. Then scores a generated Parquet file of 1M and 10M rows with
`opsloop predict` and reports rows/s and peak RSS. Results also go to bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(tempfile.gettempdir()) / "opsloop-bench-serving"
FEATURES = [f"f{i}" for i in range(20)]
POINTS = [("1 row, c=1", 1, 1), ("1 row, c=32", 32, 1), ("100 rows, c=8", 8, 100)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(path: Path) -> None:
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(50_000, len(FEATURES))), columns=FEATURES)
    y = (x["f0"] + 0.5 * x["f1"] - x["f2"] + rng.normal(scale=0.5, size=len(x)) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    shutil.rmtree(path, ignore_errors=True)
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(x, model.predict(x)),
                              input_example=x.head(2))


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server on {port} did not come up")


def start_servers(model: Path, workers: int) -> dict[str, tuple[subprocess.Popen, int]]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true")
    servers = {}
    port = free_port()
    servers["mlflow"] = (subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True), port)
    port = free_port()
    servers["opsloop"] = (subprocess.Popen(
        [sys.executable, "-c", "from opsloop.cli.serving import serve; serve()", str(model),
         "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True), port)
    for proc, port in servers.values():
        wait_up(port, proc)
    return servers


def stop_servers(servers: dict[str, tuple[subprocess.Popen, int]]) -> None:
    for proc, _ in servers.values():
        try:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, 9)


def payload(rows: int) -> str:
    rng = np.random.default_rng(rows)
    data = np.round(rng.normal(size=(rows, len(FEATURES))), 6).tolist()
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": data}})


def ensure_wrk() -> str | None:
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    return shutil.which("wrk")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def run_wrk(wrk: str, port: int, body: str, conc: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(body)}\n")
        script = f.name
    url = f"http://127.0.0.1:{port}/invocations"
    threads = str(min(conc, 2))
    subprocess.run([wrk, "-t", threads, "-c", str(conc), "-d", "1s", "-s", script, url],
                   capture_output=True, check=False)  # warm-up
    out = subprocess.run([wrk, "-t", threads, "-c", str(conc), "-d", f"{max(seconds, 1):.0f}s", "--latency",
                          "-s", script, url], capture_output=True, text=True, check=False).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p99_ms": float(m.group(1)) * _UNITS[m.group(2)] * 1000,
            "errors": int(errors.group(1)) if errors else 0}


def run_threaded(port: int, body: str, conc: int, seconds: float) -> dict[str, float]:
    """Fallback load generator: `conc` threads, each a keep-alive HTTP client."""
    import http.client
    import threading

    lat: list[float] = []
    errors = [0]
    stop = time.perf_counter() + seconds

    def worker() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            c.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            lat.append(time.perf_counter() - t)
            errors[0] += r.status != 200

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": len(lat) / (time.perf_counter() - t0), "p99_ms": float(np.percentile(lat, 99)) * 1000,
            "errors": errors[0]}


def bench_online(model: Path, seconds: float, workers: int, rounds: int) -> list[dict[str, object]]:
    wrk = ensure_wrk()
    print(f"load generator: {'wrk' if wrk else 'threaded python client'}; {seconds:.0f}s per point and server "
          f"in {rounds} alternating rounds (medians shown), {workers} workers per server", flush=True)
    servers = start_servers(model, workers)
    results = []
    try:
        for label, conc, rows in POINTS:
            body = payload(rows)
            row: dict[str, object] = {"point": label}
            runs: dict[str, list[dict[str, float]]] = {"mlflow": [], "opsloop": []}
            for _ in range(rounds):  # alternate short rounds so a burst of machine noise hits both servers
                for name in ("mlflow", "opsloop"):
                    port = servers[name][1]
                    part = seconds / rounds
                    runs[name].append(run_wrk(wrk, port, body, conc, part) if wrk
                                      else run_threaded(port, body, conc, part))
            for name, rs in runs.items():
                row[name] = {k: float(np.median([r[k] for r in rs])) for k in ("rps", "p99_ms")}
                row[name]["errors"] = int(sum(r["errors"] for r in rs))
                row[name]["rounds"] = rs
            m, o = row["mlflow"], row["opsloop"]
            row["throughput_ratio"] = o["rps"] / m["rps"]
            row["p99_ratio"] = o["p99_ms"] / m["p99_ms"]
            results.append(row)
            print(f"{label:16} mlflow {m['rps']:8.0f} req/s p99 {m['p99_ms']:8.2f} ms | opsloop {o['rps']:8.0f} "
                  f"req/s p99 {o['p99_ms']:7.2f} ms | x{row['throughput_ratio']:.1f} throughput, "
                  f"p99 {row['p99_ratio']:.3f} of mlflow | errors {m['errors']}/{o['errors']}", flush=True)
    finally:
        stop_servers(servers)
    return results


def make_parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    rng = np.random.default_rng(1)
    chunk = 250_000
    schema = pa.schema([(f, pa.float64()) for f in FEATURES])
    with pq.ParquetWriter(path, schema, compression="snappy") as w:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            data = rng.normal(size=(n, len(FEATURES)))
            w.write_table(pa.table({f: data[:, i] for i, f in enumerate(FEATURES)}, schema=schema))


def bench_batch(model: Path, sizes: list[int]) -> list[dict[str, object]]:
    results = []
    make_parquet(WORK / "input_1000.parquet", 1000)
    subprocess.run([sys.executable, "-c", "from opsloop.cli.serving import predict; predict()", str(model),
                    "--input", str(WORK / "input_1000.parquet"), "--output", str(WORK / "warm.parquet")],
                   capture_output=True, check=True)  # warm the page cache for the imports
    for rows in sizes:
        src, dst = WORK / f"input_{rows}.parquet", WORK / f"output_{rows}.parquet"
        make_parquet(src, rows)
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", "from opsloop.cli.serving import predict; predict()",
                                 str(model), "--input", str(src), "--output", str(dst)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
        if status != 0:
            raise SystemExit(f"opsloop predict failed: {proc.stderr.read().decode()}")
        peak_mb = usage.ru_maxrss / 1024
        scoring = float(re.search(r"in ([\d.]+)s", proc.stderr.read().decode()).group(1))
        r = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "scoring_seconds": scoring,
             "scoring_rows_per_s": rows / scoring, "peak_rss_mb": peak_mb, "input_mb": src.stat().st_size / 2**20}
        results.append(r)
        print(f"batch {rows:>11,} rows: {r['rows_per_s']:>10,.0f} rows/s end to end ({seconds:5.1f}s with start-up), "
              f"{r['scoring_rows_per_s']:>10,.0f} rows/s scoring; peak RSS {peak_mb:5.0f} MB "
              f"(input {r['input_mb']:,.0f} MB)", flush=True)
        dst.unlink(missing_ok=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per point (medians reported)")
    ap.add_argument("--batch-rows", default="1000000,10000000")
    ap.add_argument("--skip-online", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    model = WORK / "model"
    train_model(model)
    report: dict[str, object] = {"model": "sklearn StandardScaler+LogisticRegression, 20 float features",
                                 "workers": args.workers}
    if not args.skip_online:
        report["online"] = bench_online(model, args.seconds, args.workers, args.rounds)
    if not args.skip_batch:
        report["batch"] = bench_batch(model, [int(s) for s in args.batch_rows.split(",") if s])
    out = ROOT / "bench" / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
