"""Time to first render of the runs page with 10,000 runs, in Debian's Chromium.

Creates the runs through opsloop's tracking store (create_run + log_batch: 3 params, 3 metrics,
2 tags each), starts ``opsloop server`` on that data folder, then loads ``/#/runs`` in fresh browser
contexts and reads the page's ``opsloop:runs-rendered`` performance mark (set on the first animation
frame after the first page of the table is in the DOM), relative to navigation start. Prints every
repeat and the median; ``--write-docs`` puts the figure into docs/benchmarks.md.

    .venv/bin/python bench/ui/first_render.py [--runs 10000] [--repeats 7] [--write-docs]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MARK = "opsloop:runs-rendered"


def make_runs(data_dir: Path, n: int) -> float:
    """Create ``n`` runs in one experiment through the store; returns seconds taken."""
    from opsloop.mlops.tracking.entities import Metric
    from opsloop.runtime import build_runtime
    from opsloop.settings import load_settings

    rt = build_runtime(load_settings({"storage": {"data_dir": data_dir}}))
    t0 = time.perf_counter()
    try:
        exp = rt.tracking.create_experiment("bench-10k")
        rng = random.Random(7)
        now = int(time.time() * 1000)
        for i in range(n):
            run = rt.tracking.create_run(exp, user_id="bench", start_time=now - (n - i) * 1000,
                                         run_name=f"run-{i:05d}")
            ts = now - (n - i) * 1000 + 500
            rt.tracking.log_batch(
                run.info.run_id,
                metrics=[Metric("loss", rng.random(), ts, 0), Metric("accuracy", rng.random(), ts, 0),
                         Metric("f1", rng.random(), ts, 0)],
                params={"lr": str(rng.choice([0.1, 0.01, 0.001])), "depth": str(rng.randint(2, 12)),
                        "model": rng.choice(["xgb", "mlp", "linear"])},
                tags={"team": rng.choice(["search", "ads"]), "seed": str(i)},
            )
    finally:
        rt.close()
    return time.perf_counter() - t0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("opsloop")), "server", "--port", str(port),
                             "--data-dir", str(data_dir), "--log-level", "warning"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("opsloop server did not start")


def measure(url: str, route: str, repeats: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(f"{url}/{route}")
                page.wait_for_function(f"performance.getEntriesByName('{MARK}').length > 0", timeout=30_000)
                out.append(page.evaluate(f"performance.getEntriesByName('{MARK}')[0].startTime"))
                rows = page.locator("#runs-table tbody tr").count()
                assert rows == 100, f"expected a first page of 100 rows, got {rows}"
                context.close()
        finally:
            browser.close()
    return out


def write_docs(line: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    head, sep, rest = text.partition("## Web UI (bench/ui)\n")
    if not sep:
        raise SystemExit("docs/benchmarks.md has no '## Web UI (bench/ui)' section")
    section, nxt, tail = rest.partition("\n## ")
    path.write_text(head + sep + "\n" + line.strip() + "\n" + (nxt + tail if nxt else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        took = make_runs(data, args.runs)
        print(f"created {args.runs} runs through the store in {took:.1f}s")
        proc, url = start_server(data)
        try:
            results = {}
            for label, route in [("newest first", "#/runs"), ("sorted by a metric", "#/runs?order=metrics.loss%20DESC")]:
                times = measure(url, route, args.repeats)
                results[label] = statistics.median(times)
                print(f"{label}: first render {', '.join(f'{t:.0f}' for t in times)} ms; median {results[label]:.0f} ms")
        finally:
            proc.terminate()
            proc.wait(10)
    summary = (
        f"First render of the runs page (first page of 100 rows, 8 metric/param columns) with {args.runs:,} runs "
        f"in one experiment, SQLite store, Debian's Chromium headless at 1280×800, median of {args.repeats} "
        f"fresh browser contexts: **{results['newest first']:.0f} ms** newest first, "
        f"**{results['sorted by a metric']:.0f} ms** sorted by a metric (goal: under 1 s). "
        "Measured from navigation start to the `opsloop:runs-rendered` performance mark. "
        "Reproduce: `.venv/bin/python bench/ui/first_render.py --write-docs`."
    )
    print(summary)
    if args.write_docs:
        write_docs(summary)


if __name__ == "__main__":
    main()
