"""Log template mining benchmark: opsloop's LogMiner against Drain3 on Loghub-2k.

Usage:
    python bench/logs/run.py [DATA_PATH] [--systems A,B] [--stream-lines N] [--drain-stream-lines N]
                             [--fresh-lines N] [--repeat R]

DATA_PATH defaults to ../shared/datasets/loghub-2k (one folder per system holding
``<S>_2k.log`` and ``<S>_2k.log_structured_corrected.csv``).

Drain3 conflicts with mlflow over cachetools, so install it without its dependencies:
    pip install --no-deps drain3==0.9.11 jsonpickle

Throughput is lines per CPU second of one single-threaded process (``time.process_time``), so
a busy shared machine disturbs it less than wall time would. Both parsers get the same lines (the ``Content`` column, i.e. the message after the header)
in the same order, one configuration for every system. Drain3 runs with its default settings
plus the masking instructions of its README. See metrics.py for GA, PA, FGA and FTA.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import evaluate  # noqa: E402
from parsers import PARSERS, HeaderParser, OpsloopParser  # noqa: E402

DEFAULT_DATA = "../shared/datasets/loghub-2k"


def load_system(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """Contents, true templates and raw lines of one system."""
    name = folder.name
    with open(folder / f"{name}_2k.log_structured_corrected.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    raw = (folder / f"{name}_2k.log").read_text(encoding="utf-8", errors="replace").splitlines()
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows], raw


def run_accuracy(data: Path, systems: list[str], repeat: int) -> dict[str, dict[str, dict[str, float]]]:
    """Scores per system and parser; ``seconds`` is the median over ``repeat`` fresh runs."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for system in systems:
        contents, truth, raw = load_system(data / system)
        results[system] = {}
        for name, factory in PARSERS.items():
            parser = factory()
            groups = [parser.add(line, system) for line in contents]
            groups = [parser.final(g) for g in groups]
            templates = [parser.template(g) for g in groups]
            scores = evaluate(truth, groups, templates)
            scores["lines"] = len(contents)
            results[system][name] = scores
        # Timed runs alternate between the parsers, so that both see the same machine load.
        timings: dict[str, list[float]] = {name: [] for name in PARSERS}
        for _ in range(repeat):
            for name, factory in PARSERS.items():
                timings[name].append(_timed(factory, contents, system))
        for name in PARSERS:
            results[system][name]["seconds"] = statistics.median(timings[name])
        results[system]["opsloop-raw"] = _raw_lines(raw, contents, truth, system)
    return results


def _timed(factory: type, lines: list[str], service: str) -> float:
    parser = factory()
    add = parser.add
    started = time.process_time()  # CPU seconds of this one-threaded process: one core
    for line in lines:
        add(line, service)
    return time.process_time() - started


def _raw_lines(raw: list[str], contents: list[str], truth: list[str], system: str) -> dict[str, float]:
    """opsloop end to end: raw lines, header recognised automatically (no format given)."""
    headers = HeaderParser()
    parser = OpsloopParser()
    messages = [headers.parse(line).message for line in raw]
    groups = [parser.add(m, system) for m in messages]
    groups = [parser.final(g) for g in groups]  # after the stream: merges may come later
    scores = evaluate(truth, groups, [parser.template(g) for g in groups])
    scores["header_ok"] = sum(m == c.strip() for m, c in zip(messages, contents, strict=True)) / len(raw)
    return scores


def print_raw(results: dict[str, dict[str, dict[str, float]]]) -> None:
    print("\nopsloop on raw lines (automatic header recognition, no format string):")
    print(f"{'system':<11} GA    PA    FGA   FTA   header-recognised")
    keys = ("GA", "PA", "FGA", "FTA", "header_ok")
    for system, per in results.items():
        s = per["opsloop-raw"]
        print(f"{system:<11} " + " ".join(f"{s[k]:.3f}" for k in keys))
    print(
        f"{'mean':<11} "
        + " ".join(f"{sum(p['opsloop-raw'][k] for p in results.values()) / len(results):.3f}" for k in keys)
    )


def _mean_row(label: str, rows: list[dict[str, dict[str, float]]], names: list[str]) -> str:
    out = f"{label:<11}"
    for n in names:
        means = [sum(r[n][k] for r in rows) / max(1, len(rows)) for k in ("GA", "PA", "FGA", "FTA")]
        out += f"| {'':<8} " + " ".join(f"{v:.3f}" for v in means) + " "
    return out


def print_accuracy(results: dict[str, dict[str, dict[str, float]]], groups: dict[str, list[str]]) -> None:
    """The per-system table, then means over all systems and over each named group."""
    names = list(PARSERS)
    head = f"{'system':<11}" + "".join(f"| {n:<8} GA    PA    FGA   FTA  " for n in names)
    print(head)
    print("-" * len(head))
    for system, per in results.items():
        row = f"{system:<11}"
        for n in names:
            s = per[n]
            row += f"| {'':<8} {s['GA']:.3f} {s['PA']:.3f} {s['FGA']:.3f} {s['FTA']:.3f} "
        print(row)
    print(_mean_row("mean", list(results.values()), names))
    for label, members in groups.items():
        print(_mean_row(label, [results[m] for m in members if m in results], names))
    for n in names:
        lines = sum(per[n]["lines"] for per in results.values())
        secs = sum(per[n]["seconds"] for per in results.values())
        print(
            f"{n}: {lines / secs:,.0f} lines/s on the 2k files ({lines} lines, {secs:.3f} CPU s, median of runs)"
        )
    if {"opsloop", "drain3"} <= set(names):
        o = sum(p["opsloop"]["lines"] for p in results.values()) / sum(
            p["opsloop"]["seconds"] for p in results.values()
        )
        d = sum(p["drain3"]["lines"] for p in results.values()) / sum(
            p["drain3"]["seconds"] for p in results.values()
        )
        print(f"throughput ratio opsloop/drain3 on the 2k files: {o / d:.1f}x")


_DIGITS = re.compile(r"\d+")


def stream_worker(
    name: str, data: Path, systems: list[str], n: int, seed: int, fresh: bool
) -> dict[str, float]:
    """Mine ``n`` lines resampled (uniformly, with replacement) from the systems' messages.

    With ``fresh``, every digit run of a sampled line is replaced by random digits (its length
    changed by -1, 0 or +1), so that most lines are new (the exact-line fast path rarely applies).
    """
    pool = [(s, line) for s in systems for line in load_system(data / s)[0]]
    rng = random.Random(seed)
    parser = PARSERS[name]()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def new_digits(found: re.Match[str]) -> str:
        size = max(1, len(found.group()) + rng.randint(-1, 1))  # new values, lengths vary too
        return "".join(rng.choice("0123456789") for _ in range(size))

    chunk, done, elapsed = 100_000, 0, 0.0
    while done < n:
        batch = rng.choices(pool, k=min(chunk, n - done))
        if fresh:
            batch = [(service, _DIGITS.sub(new_digits, line)) for service, line in batch]
        started = time.process_time()
        for service, line in batch:
            parser.add(line, service)
        elapsed += time.process_time() - started
        done += len(batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "lines": done,
        "seconds": elapsed,
        "peak_rss_mb": peak / 1024,
        "base_rss_mb": base_rss / 1024,
        "templates": parser.size(),
    }


def run_stream(args: argparse.Namespace, systems: list[str]) -> None:
    """Each parser in its own process (so peak RSS is its own), on the same seeded stream."""
    scenarios = (
        ("resampled", False, args.stream_lines, args.drain_stream_lines),
        ("resampled, fresh numbers", True, args.fresh_lines, min(args.fresh_lines, args.drain_stream_lines)),
    )
    for label, fresh, n_ours, n_drain in scenarios:
        out = {}
        for name, n in (("opsloop", n_ours), ("drain3", n_drain)):
            if name not in PARSERS or n <= 0:
                continue
            cmd = [
                sys.executable,
                __file__,
                str(args.data),
                "--systems",
                ",".join(systems),
                "--stream-worker",
                name,
                "--stream-lines",
                str(n),
                "--seed",
                str(args.seed),
            ]
            if fresh:
                cmd.append("--fresh")
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out[name] = r = json.loads(res.stdout.strip().splitlines()[-1])
            print(
                f"[{label}] {name}: {r['lines']:,} lines, {r['lines'] / r['seconds']:,.0f} lines/s, "
                f"{r['templates']} templates, peak RSS {r['peak_rss_mb']:.0f} MB "
                f"(data loaded: {r['base_rss_mb']:.0f} MB)"
            )
        if len(out) == 2:
            o = out["opsloop"]["lines"] / out["opsloop"]["seconds"]
            d = out["drain3"]["lines"] / out["drain3"]["seconds"]
            print(f"[{label}] throughput ratio opsloop/drain3: {o / d:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=DEFAULT_DATA, type=Path)
    ap.add_argument("--systems", default="", help="comma-separated subset (default: every folder)")
    ap.add_argument("--stream-lines", type=int, default=10_000_000)
    ap.add_argument(
        "--drain-stream-lines",
        type=int,
        default=1_000_000,
        help="Drain3's stream length (its rate is steady; 10M lines would take several minutes)",
    )
    ap.add_argument(
        "--fresh-lines",
        type=int,
        default=1_000_000,
        help="length of the second stream, whose numbers are redrawn (0: skip it)",
    )
    ap.add_argument("--fresh", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--held-out",
        default="Apache,HPC,Spark,Zookeeper",
        help="systems kept out of development; their mean is printed apart ('' for none)",
    )
    ap.add_argument("--stream-worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per system and parser (median)")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s] or sorted(
        p.name for p in args.data.iterdir() if p.is_dir()
    )
    if args.stream_worker:
        worker = stream_worker(
            args.stream_worker, args.data, systems, args.stream_lines, args.seed, args.fresh
        )
        print(json.dumps(worker))
        return
    results = run_accuracy(args.data, systems, args.repeat)
    held_out = [h for h in args.held_out.split(",") if h]
    groups = {}
    if held_out:
        groups = {"mean dev": [x for x in systems if x not in held_out], "mean held": held_out}
    print_accuracy(results, groups)
    print_raw(results)
    run_stream(args, systems)


if __name__ == "__main__":
    main()
