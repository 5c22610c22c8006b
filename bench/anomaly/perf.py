"""Throughput, memory per watched series and forecasting accuracy on the NAB series."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
from nab_scorer import read_series

from opsloop.aiops.detection import MetricWatch, SeasonalTrendForecaster, UnivariateEnsemble, WatchRule

__all__ = ["forecast_accuracy", "memory_per_series", "throughput"]


def _series(root: Path, names: list[str]) -> list[tuple[list[float], list[float]]]:
    out = []
    for n in names:
        ts, v, _ = read_series(root / "data" / n)
        secs = ts.astype("datetime64[s]").astype(np.int64).astype(float)
        out.append((v.tolist(), secs.tolist()))
    return out


def throughput(root: Path, names: list[str]) -> None:
    data = _series(root, names)
    total = sum(len(v) for v, _ in data)
    start = time.process_time()
    for values, times in data:
        det = UnivariateEnsemble()
        score, learn = det.score_one, det.learn_one
        for x, t in zip(values, times, strict=True):
            score(x, t)
            learn(x, t)
    cpu = time.process_time() - start
    print(
        f"  univariate ensemble score_one+learn_one: {total} points in {cpu:.2f} s CPU "
        f"= {total / cpu:,.0f} points/s per core"
    )
    watch = MetricWatch([WatchRule("all", '{job="nab"}')])
    start = time.process_time()
    for k, (values, times) in enumerate(data):
        labels = {"job": "nab", "series": str(k)}
        for x, t in zip(values, times, strict=True):
            watch.observe(labels, t, x)
    cpu = time.process_time() - start
    print(f"  MetricWatch.observe (lookup + detector + alerting): {total / cpu:,.0f} points/s per core")


def memory_per_series(root: Path, names: list[str], n_series: int = 60, points: int = 3000) -> None:
    values, times = _series(root, names[:1])[0]
    values, times = values[:points], times[:points]
    watch = MetricWatch([WatchRule("all", '{job="nab"}')], max_series=n_series)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for k in range(n_series):
        labels = {"job": "nab", "series": str(k)}
        for x, t in zip(values, times, strict=True):
            watch.observe(labels, t, x)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    state = len(json.dumps(watch.state_dict())) / n_series
    print(
        f"  memory per watched series after {points} points: {used / n_series / 1024:.1f} KiB in RAM, "
        f"{state / 1024:.1f} KiB as a JSON checkpoint ({n_series} series)"
    )


def _seasonal_naive(history: np.ndarray, period: int, h: int) -> np.ndarray:
    p = max(1, period)
    idx = [len(history) - p * int(np.ceil(k / p)) + k - 1 for k in range(1, h + 1)]
    return history[np.clip(idx, 0, len(history) - 1)]


def _smape(a: np.ndarray, f: np.ndarray) -> float:
    den = np.abs(a) + np.abs(f)
    return float(np.mean(np.where(den > 0, 2 * np.abs(a - f) / np.where(den > 0, den, 1), 0.0))) * 100


def _file_accuracy(values: list[float], times: list[float], horizon: int, every: int):
    y = np.asarray(values)
    n = len(y)
    model = SeasonalTrendForecaster()
    errs_m, errs_n, sm_m, sm_n = [], [], [], []
    for i, (x, t) in enumerate(zip(values, times, strict=True)):
        model.learn_one(x, t)
        if i >= n // 2 and (i - n // 2) % every == 0 and i + horizon < n:
            actual = y[i + 1 : i + 1 + horizon]
            fc = np.asarray(model.forecast(horizon).mean)
            naive = _seasonal_naive(y[: i + 1], model.period, horizon)
            errs_m.append(np.abs(actual - fc))
            errs_n.append(np.abs(actual - naive))
            sm_m.append(_smape(actual, fc))
            sm_n.append(_smape(actual, naive))
    p = max(1, model.period)
    train = y[: n // 2]
    scale = float(np.mean(np.abs(train[p:] - train[:-p]))) if len(train) > p else 0.0
    scale = scale if scale > 0 else 1.0
    return (
        float(np.mean(errs_m)) / scale,
        float(np.mean(errs_n)) / scale,
        float(np.mean(sm_m)),
        float(np.mean(sm_n)),
    )


def forecast_accuracy(root: Path, names: list[str], horizon: int = 12, every: int = 25) -> None:
    rows = [_file_accuracy(v, t, horizon, every) for v, t in _series(root, names)]
    arr = np.array(rows)
    better = int((arr[:, 0] < arr[:, 1]).sum())
    print(f"  horizon {horizon} steps, {len(rows)} series, origins every {every} points in the second half")
    print(
        f"  MASE   opsloop Holt-Winters: mean {arr[:, 0].mean():.3f} median {np.median(arr[:, 0]):.3f} | "
        f"seasonal naive: mean {arr[:, 1].mean():.3f} median {np.median(arr[:, 1]):.3f}"
    )
    print(
        f"  sMAPE% opsloop Holt-Winters: mean {arr[:, 2].mean():.2f} median {np.median(arr[:, 2]):.2f} | "
        f"seasonal naive: mean {arr[:, 3].mean():.2f} median {np.median(arr[:, 3]):.2f}"
    )
    print(
        f"  opsloop better than seasonal naive (sMAPE) on {int((arr[:, 2] < arr[:, 3]).sum())}/{len(rows)} series "
        "(sMAPE punishes any non-zero forecast of an exact zero with 200 %: intermittent series)"
    )
    print(f"  opsloop better than seasonal naive (MASE) on {better}/{len(rows)} series")
