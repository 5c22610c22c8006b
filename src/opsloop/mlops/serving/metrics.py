"""Prometheus metrics of the scoring server, shared by every worker process.

Each worker owns one row of a float64 table; the table lives in a memory-mapped file when the
server runs several workers, so ``GET /metrics`` on any worker reports the sum over all of them.
Recording is a few array increments: no lock and no allocation on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LATENCY_BUCKETS", "PREDICTION_BUCKETS", "MetricsSnapshot", "MetricsTable", "ServingMetrics",
           "latency_quantile"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PREDICTION_BUCKETS = (-1.0, 0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0)
STATUS_CLASSES = ("2xx", "4xx", "5xx")
# model_error: the model raised on an input that passed the signature's checks (a 400, as MLflow answers it)
ERROR_KINDS = ("bad_request", "not_found", "payload_too_large", "unsupported_media_type", "internal", "model_error")
MODEL_ERROR = "model_error"
VARIANTS = ("champion", "challenger")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Offsets of every series in one worker's row."""

    latency_buckets: tuple[float, ...]
    prediction_buckets: tuple[float, ...]

    @property
    def requests(self) -> int:
        return 0

    @property
    def errors(self) -> int:
        return len(STATUS_CLASSES)

    @property
    def latency(self) -> int:  # buckets..., +Inf, sum, count
        return self.errors + len(ERROR_KINDS)

    @property
    def rows(self) -> int:  # one per variant
        return self.latency + len(self.latency_buckets) + 3

    def prediction(self, variant: int) -> int:  # buckets..., +Inf, sum, count
        return self.rows + len(VARIANTS) + variant * (len(self.prediction_buckets) + 3)

    @property
    def client_latency(self) -> int:  # the 4xx answers among the latency buckets: buckets..., +Inf
        return self.prediction(len(VARIANTS))

    @property
    def width(self) -> int:
        return self.client_latency + len(self.latency_buckets) + 1


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The request counters of one model at one moment, summed over all workers.

    Attributes:
        status: finished ``/invocations`` requests by status class (``2xx``, ``4xx``, ``5xx``).
        error_kinds: failed requests by kind (``bad_request``, ``internal``...; ``model_error``: the model
            raised, answered 400 as MLflow does, among the ``4xx``).
        latency_counts: requests per latency bucket (not cumulative); the last one is over
            ``LATENCY_BUCKETS[-1]`` seconds. Every answer, as the Prometheus histogram of ``/metrics``.
        latency_sum: total seconds spent on those requests.
        client_error_latency_counts: the 4xx answers among ``latency_counts`` that never reached the model (a
            client's error is answered before the model is asked: bad input, an unknown route, a body too
            large); a ``model_error`` did reach it, so its latency is the model's.
    """

    status: dict[str, int]
    error_kinds: dict[str, int]
    latency_counts: tuple[int, ...]
    latency_sum: float
    client_error_latency_counts: tuple[int, ...] = (0,) * (len(LATENCY_BUCKETS) + 1)

    @property
    def requests(self) -> int:
        return sum(self.status.values())

    @property
    def model_errors(self) -> int:
        """Requests the model raised on (answered 400, counted among the ``4xx``)."""
        return self.error_kinds.get(MODEL_ERROR, 0)

    @property
    def model_latency_counts(self) -> tuple[int, ...]:
        """``latency_counts`` of the requests that reached the model (2xx, 5xx and model errors; not the other
        4xx answers)."""
        return tuple(a - c for a, c in zip(self.latency_counts, self.client_error_latency_counts, strict=True))

    @property
    def errors(self) -> int:
        return self.status["4xx"] + self.status["5xx"]


class MetricsTable:
    """The per-worker rows, in memory (one worker) or in a shared memory-mapped file."""

    def __init__(self, workers: int = 1, path: str | Path | None = None, *, width: int | None = None) -> None:
        self.workers = workers
        self.path = str(path) if path else None
        self.width = width or _Layout(LATENCY_BUCKETS, PREDICTION_BUCKETS).width
        if self.path is None:
            self.data = np.zeros((workers, self.width))
        else:
            if not Path(self.path).exists() or Path(self.path).stat().st_size != workers * self.width * 8:
                np.zeros((workers, self.width)).tofile(self.path)
            self.data = np.memmap(self.path, dtype=np.float64, mode="r+", shape=(workers, self.width))

    def __getstate__(self) -> dict[str, object]:
        return {"workers": self.workers, "path": self.path, "width": self.width}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["workers"], state["path"], width=state["width"])  # type: ignore[misc]


class ServingMetrics:
    """Records requests, errors, latency and prediction values; renders Prometheus text."""

    def __init__(self, table: MetricsTable | None = None, worker: int = 0, *, model: str = "") -> None:
        self.layout = _Layout(LATENCY_BUCKETS, PREDICTION_BUCKETS)
        self.table = table or MetricsTable()
        self.row = self.table.data[worker]
        self._lat = np.asarray(LATENCY_BUCKETS)
        self._pred = np.asarray(PREDICTION_BUCKETS)
        self.model = model.replace('"', "'")

    def observe_request(self, status: int, seconds: float, error: str | None = None) -> None:
        """One ``/invocations`` request whose answer is ready (recorded before it is sent)."""
        row, lay = self.row, self.layout
        row[lay.requests + (0 if status < 400 else 1 if status < 500 else 2)] += 1
        if error is not None:
            row[lay.errors + ERROR_KINDS.index(error)] += 1
        nb = len(LATENCY_BUCKETS)
        bucket = int(np.searchsorted(self._lat, seconds))
        row[lay.latency + bucket] += 1
        if 400 <= status < 500 and error != MODEL_ERROR:
            row[lay.client_latency + bucket] += 1
        row[lay.latency + nb + 1] += seconds
        row[lay.latency + nb + 2] += 1

    def observe_predictions(self, preds: object, variant: str = "champion") -> None:
        """Rows scored and the distribution of numeric predictions (first column of each row)."""
        v = VARIANTS.index(variant)
        arr = np.asarray(preds) if not isinstance(preds, np.ndarray) else preds
        n = arr.shape[0] if arr.ndim else 1
        self.row[self.layout.rows + v] += n
        if arr.dtype.kind not in "fiub":
            return
        values = arr.reshape(n, -1)[:, -1].astype(np.float64, copy=False)  # last column: P(positive class)
        base = self.layout.prediction(v)
        nb = len(PREDICTION_BUCKETS)
        counts = np.bincount(np.searchsorted(self._pred, values), minlength=nb + 1)
        self.row[base:base + nb + 1] += counts
        self.row[base + nb + 1] += float(np.nansum(values))
        self.row[base + nb + 2] += n

    def snapshot(self) -> MetricsSnapshot:
        """The request counters now (a copy: later requests do not change it)."""
        total = self.table.data.sum(axis=0)
        lay, nb = self.layout, len(LATENCY_BUCKETS)
        return MetricsSnapshot(
            status={s: int(total[lay.requests + i]) for i, s in enumerate(STATUS_CLASSES)},
            error_kinds={k: int(total[lay.errors + i]) for i, k in enumerate(ERROR_KINDS)},
            latency_counts=tuple(int(c) for c in total[lay.latency:lay.latency + nb + 1]),
            latency_sum=float(total[lay.latency + nb + 1]),
            client_error_latency_counts=tuple(int(c) for c in total[lay.client_latency:lay.client_latency + nb + 1]))

    def render(self) -> str:
        """Prometheus text exposition (version 0.0.4), summed over all workers."""
        total = self.table.data.sum(axis=0)
        lay, lbl = self.layout, f'model="{self.model}"'
        out = ["# HELP opsloop_serving_requests_total Scoring requests by status class.",
               "# TYPE opsloop_serving_requests_total counter"]
        out += [f'opsloop_serving_requests_total{{{lbl},status="{s}"}} {total[lay.requests + i]:.0f}'
                for i, s in enumerate(STATUS_CLASSES)]
        out += ["# HELP opsloop_serving_errors_total Failed scoring requests by kind.",
                "# TYPE opsloop_serving_errors_total counter"]
        out += [f'opsloop_serving_errors_total{{{lbl},kind="{k}"}} {total[lay.errors + i]:.0f}'
                for i, k in enumerate(ERROR_KINDS)]
        out += _histogram("opsloop_serving_request_duration_seconds", "Scoring request latency.",
                          LATENCY_BUCKETS, total[lay.latency:lay.latency + len(LATENCY_BUCKETS) + 3], lbl)
        out += ["# HELP opsloop_serving_rows_total Rows scored.", "# TYPE opsloop_serving_rows_total counter"]
        out += [f'opsloop_serving_rows_total{{{lbl},variant="{v}"}} {total[lay.rows + i]:.0f}'
                for i, v in enumerate(VARIANTS)]
        nb = len(PREDICTION_BUCKETS)
        for i, v in enumerate(VARIANTS):
            base = lay.prediction(i)
            out += _histogram("opsloop_serving_prediction_value",
                              "Distribution of predicted values (last output column).", PREDICTION_BUCKETS,
                              total[base:base + nb + 3], f'{lbl},variant="{v}"', header=(i == 0))
        return "\n".join(out) + "\n"


def _histogram(name: str, help_: str, bounds: tuple[float, ...], cells: np.ndarray, labels: str,
               *, header: bool = True) -> list[str]:
    nb = len(bounds)
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"] if header else []
    cum = np.cumsum(cells[:nb + 1])
    for b, c in zip((*bounds, float("inf")), cum, strict=True):
        le = "+Inf" if b == float("inf") else repr(b)
        lines.append(f'{name}_bucket{{{labels},le="{le}"}} {c:.0f}')
    lines.append(f"{name}_sum{{{labels}}} {float(cells[nb + 1])!r}")
    lines.append(f"{name}_count{{{labels}}} {cells[nb + 2]:.0f}")
    return lines


def latency_quantile(counts: Any, q: float) -> float | None:
    """Seconds below which a share ``q`` of requests finished, interpolated within its bucket.

    ``counts`` are per bucket of ``LATENCY_BUCKETS`` plus the overflow bucket (answered with the
    largest bound). ``None`` when there is no request.
    """
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        return None
    rank = q * total
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, rank, side="left"))
    if i >= len(LATENCY_BUCKETS):
        return LATENCY_BUCKETS[-1]
    lower = LATENCY_BUCKETS[i - 1] if i > 0 else 0.0
    before = cum[i - 1] if i > 0 else 0.0
    return float(lower + (LATENCY_BUCKETS[i] - lower) * (rank - before) / counts[i])
