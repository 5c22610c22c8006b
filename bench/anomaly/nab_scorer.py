"""A NAB v1.1 scorer written from NAB's documented algorithm.

NAB scores a detector on a labelled corpus in four steps:

1. Every row of a file gets a *sweep score*: inside an anomaly window the scaled sigmoid of its
   relative position (earlier is better, weighted by the profile's TP weight), outside a window the
   scaled sigmoid of its distance past the previous window (weighted by the FP weight; ``-fpWeight``
   before any window). Rows of the probationary period (the first ``min(floor(0.15 n), 750)`` rows)
   are not scored.
2. A row counts as a detection when its anomaly score is ``>= threshold``. A window scores the best
   sweep score among its detections (one TP per window) or ``-fnWeight`` when it has none; every
   detection outside windows adds its (negative) sweep score.
3. The threshold is optimised per detector and profile over the whole corpus (the sweeper).
4. The corpus total is normalised: ``100 * (raw - null) / (perfect - null)`` where ``perfect`` is
   ``tpWeight`` per window and ``null`` is the score of a detector that never fires.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FileScore",
    "ScoredFile",
    "load_windows",
    "normalised",
    "prepare_file",
    "read_profiles",
    "score_file",
    "sweep_corpus",
]

PROBATION_PERCENT = 0.15
OUTSIDE = -1
PROBATION = -2


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: 2/(1+exp(5x)) - 1, and -1 from three window widths past a window."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probationary_length(n: int) -> float:
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


def read_profiles(path: Path) -> dict[str, dict[str, float]]:
    with open(path) as f:
        raw = json.load(f)
    return {name: p["CostMatrix"] for name, p in raw.items()}


def load_windows(path: Path) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
    with open(path) as f:
        raw = json.load(f)
    return {
        name: [(np.datetime64(a.replace(" ", "T")), np.datetime64(b.replace(" ", "T"))) for a, b in wins]
        for name, wins in raw.items()
    }


@dataclass
class ScoredFile:
    """One file's rows prepared for scoring under one cost profile."""

    name: str
    scores: np.ndarray  # detector anomaly scores
    sweep: np.ndarray  # weighted sweep score per row
    window: np.ndarray  # window index, OUTSIDE or PROBATION per row
    n_windows: int  # windows that own at least one scorable row


@dataclass
class FileScore:
    name: str
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int


def prepare_file(name, timestamps, scores, windows, cost) -> ScoredFile:
    """Sweep scores and window membership of every row (NAB's ``calcSweepScore``)."""
    ts = np.asarray(timestamps, dtype="datetime64[us]")
    n = len(ts)
    max_tp = scaled_sigmoid(-1.0)
    probation = probationary_length(n)
    sweep = np.empty(n)
    window = np.full(n, OUTSIDE, dtype=np.int64)
    in_window = np.zeros(n, dtype=bool)
    starts, ends = [], []
    for k, (a, b) in enumerate(windows):
        ia = int(np.searchsorted(ts, a))
        ib = int(np.searchsorted(ts, b))
        starts.append(ia)
        ends.append(ib)
        window[ia : ib + 1] = k
        in_window[ia : ib + 1] = True
    prev_right, prev_width = None, None
    cur = 0
    for i in range(n):
        if in_window[i]:
            k = window[i]
            width = float(ends[k] - starts[k] + 1)
            sweep[i] = scaled_sigmoid(-(ends[k] - i + 1) / width) * cost["tpWeight"] / max_tp
            if i == ends[k]:
                prev_right, prev_width = i, width
            cur = k
        else:
            pos = 3.0 if prev_right is None else abs(prev_right - i) / (prev_width - 1.0)
            sweep[i] = scaled_sigmoid(pos) * cost["fpWeight"]
    del cur
    window[: int(math.ceil(probation))] = PROBATION
    n_windows = len({int(w) for w in window if w >= 0})
    return ScoredFile(name, np.asarray(scores, dtype=float), sweep, window, n_windows)


def score_file(f: ScoredFile, threshold: float, cost) -> FileScore:
    """Score of one file at a fixed threshold (detection: anomaly score >= threshold)."""
    scorable = f.window != PROBATION
    hit = (f.scores >= threshold) & scorable
    outside = f.window == OUTSIDE
    fp_mask = hit & outside
    total = float(f.sweep[fp_mask].sum())
    for k in {int(w) for w in f.window if w >= 0}:
        sel = hit & (f.window == k)
        total += float(f.sweep[sel].max()) if sel.any() else -cost["fnWeight"]
    tp = int((hit & ~outside).sum())
    fp = int(fp_mask.sum())
    inside_all = int((scorable & ~outside).sum())
    outside_all = int((scorable & outside).sum())
    return FileScore(f.name, threshold, total, tp, outside_all - fp, fp, inside_all - tp)


def sweep_corpus(files: list[ScoredFile], cost) -> tuple[float, float]:
    """Best (threshold, raw score) over the corpus (NAB's ``optimizeThreshold``).

    Thresholds are every distinct anomaly score, highest first, starting above 1.0; ties in score
    keep the highest threshold, as NAB's stable sort does.
    """
    scores, sweep, wid = [], [], []
    offset = 0
    for f in files:
        keep = f.window != PROBATION
        scores.append(f.scores[keep])
        sweep.append(f.sweep[keep])
        w = f.window[keep].copy()
        w[w >= 0] += offset
        wid.append(w)
        offset += max(int(f.window.max()) + 1, 0)
    s = np.concatenate(scores)
    sw = np.concatenate(sweep)
    w = np.concatenate(wid)
    order = np.argsort(-s, kind="stable")
    window_best = {int(k): -cost["fnWeight"] for k in np.unique(w[w >= 0])}
    current = sum(window_best.values())
    best_thr, best = 1.1, current
    thr = 1.1
    for i in order:
        si = float(s[i])
        if si != thr:
            if current > best:
                best_thr, best = thr, current
            thr = si
        k = int(w[i])
        if k < 0:
            current += float(sw[i])
        elif sw[i] > window_best[k]:
            current += float(sw[i]) - window_best[k]
            window_best[k] = float(sw[i])
    if current > best:
        best_thr, best = thr, current
    return best_thr, best


def null_score(files: list[ScoredFile], cost) -> float:
    """A detector that never fires misses every window."""
    return -cost["fnWeight"] * sum(f.n_windows for f in files)


def normalised(raw: float, files: list[ScoredFile], cost, n_windows: int | None = None) -> float:
    """NAB's normalised score: 0 for the null detector, 100 for the perfect one."""
    windows = sum(f.n_windows for f in files) if n_windows is None else n_windows
    null = -cost["fnWeight"] * windows
    perfect = cost["tpWeight"] * windows
    return 100.0 * (raw - null) / (perfect - null)


def read_series(path: Path, score_column: str | None = None):
    """Timestamps, values (and a score column when named) of a NAB csv file."""
    ts, vals, sc = [], [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            ts.append(np.datetime64(row["timestamp"].replace(" ", "T")))
            vals.append(float(row["value"]))
            if score_column:
                sc.append(float(row[score_column]))
    return np.array(ts, dtype="datetime64[us]"), np.array(vals), (np.array(sc) if score_column else None)
