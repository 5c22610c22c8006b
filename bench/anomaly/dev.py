"""Development loop: score a detector configuration on the development categories only.

Usage: python bench/anomaly/dev.py [DATA_PATH] [--config JSON] [--files] [--stress]

Runs the causal detector over the development categories (never the held-out one), then prints
the normalised NAB score per category and profile (threshold swept on these files) and the
precision / recall of the raised signals. ``--config`` is a JSON object
``{"detector": {...}, "alerter": {...}}`` overriding ``DETECTOR_CONFIG``; ``--files`` adds a
per-file line (signals raised inside and outside windows). ``--stress`` scores the same files made
noisier, as a check that a change generalises rather than fits these files: unlabelled spikes
recur outside the windows (heavy-tailed sizes, 0.5 % of rows) and values are rounded to 1 % of
their spread (metrics reported in coarse units).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nab_detect import DETECTOR_CONFIG, detect_series  # noqa: E402
from nab_scorer import (  # noqa: E402
    load_windows,
    normalised,
    prepare_file,
    read_profiles,
    read_series,
    score_file,
    sweep_corpus,
)
from run import DEVELOPMENT  # noqa: E402


def stressed(name: str, ts: np.ndarray, values: np.ndarray, windows) -> np.ndarray:
    """The series with recurring unlabelled spikes outside its windows, rounded to 1 % of its spread."""
    rng = np.random.default_rng(sum(name.encode()))
    spread = float(np.percentile(values, 95) - np.percentile(values, 5)) or 1.0
    out = values.copy()
    inside = np.zeros(len(values), dtype=bool)
    for a, b in windows:
        inside |= (ts >= a) & (ts <= b)
    spikes = (rng.random(len(values)) < 0.005) & ~inside
    sizes = spread * 0.3 * (rng.pareto(2.5, spikes.sum()) + 1.0) * rng.choice([-1.0, 1.0], spikes.sum())
    out[spikes] += sizes
    step = spread / 100.0
    return np.round(out / step) * step


def _detect(args):
    path, name, wins, config, stress = args
    ts, values, _ = read_series(path)
    if stress:
        values = stressed(name, ts, values, wins)
    return detect_series(ts, values, config)


def _signals(files) -> tuple[int, int, int, int]:
    tp = fp = found = total = 0
    for f in files:
        raised = (f.scores > 0) & (f.window != -2)
        tp += int((raised & (f.window >= 0)).sum())
        fp += int((raised & (f.window == -1)).sum())
        ids = {int(w) for w in f.window if w >= 0}
        found += sum(bool((raised & (f.window == k)).any()) for k in ids)
        total += len(ids)
    return tp, fp, found, total


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default="../shared/datasets/nab")
    ap.add_argument("--config", default="")
    ap.add_argument("--files", action="store_true")
    ap.add_argument("--stress", action="store_true")
    a = ap.parse_args(argv[1:])
    root = Path(a.data).resolve()
    config = {**DETECTOR_CONFIG, **(json.loads(a.config) if a.config else {})}
    profiles = read_profiles(root / "profiles.json")
    windows = load_windows(root / "combined_windows.json")
    names = sorted(n for n in windows if n.split("/")[0] in DEVELOPMENT and (root / "data" / n).exists())
    t0 = time.perf_counter()
    with Pool(2) as pool:
        out = pool.map(_detect, [(root / "data" / n, n, windows[n], config, a.stress) for n in names])
    print(f"config {json.dumps(config)}  ({time.perf_counter() - t0:.1f}s)")
    line = []
    for pname, cost in profiles.items():
        files = [prepare_file(n, o[0], o[2], windows[n], cost) for n, o in zip(names, out, strict=True)]
        thr, raw = sweep_corpus(files, cost)
        cats = {c: [f for f in files if f.name.startswith(c + "/")] for c in DEVELOPMENT}
        per = " ".join(
            f"{c[:14]}={normalised(sum(score_file(f, thr, cost).score for f in fl), fl, cost):.1f}"
            if sum(f.n_windows for f in fl)
            else f"{c[:14]}(raw)={sum(score_file(f, thr, cost).score for f in fl):.2f}"
            for c, fl in cats.items()
        )
        line.append(f"{pname[:17]:17s} dev={normalised(raw, files, cost):5.1f}  thr={thr:.5f}  {per}")
        if pname == "standard":
            tp, fp, found, total = _signals(files)
            prec = tp / max(tp + fp, 1)
            rec = found / max(total, 1)
            sig = f"signals={tp + fp} in-window={tp} windows={found}/{total} P={prec:.3f} R={rec:.3f}"
            sig += f" F1={2 * prec * rec / max(prec + rec, 1e-12):.3f}"
            if a.files:
                for f in files:
                    t1, f1, fo, to = _signals([f])
                    print(f"  {f.name:58s} in={t1:2d} out={f1:2d} windows {fo}/{to}")
    print("\n".join(line))
    print(sig)


if __name__ == "__main__":
    main(sys.argv)
