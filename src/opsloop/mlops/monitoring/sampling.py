"""Sampling served requests into the monitoring store, off the request path.

The scoring app hands each sampled request (its parsed input and predictions) to
``PredictionSampler.record``; a background thread turns them into rows and writes them in batches.
Pending work is bounded: when the store falls behind, further samples are dropped and counted.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from typing import Any

import numpy as np
import pandas as pd

from opsloop.mlops.monitoring.records import PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore

__all__ = ["ModelRecorder", "PredictionSampler"]

log = logging.getLogger(__name__)


def _rows(model: Any, data: Any) -> list[dict[str, Any]]:
    if data.matrix is not None:
        names = model.signature.names
        return [dict(zip(names, r, strict=False)) for r in data.matrix.tolist()]
    if data.frame is not None:
        return data.frame.astype(object).where(pd.notna(data.frame), None).to_dict(orient="records")
    return [{"tensor": np.asarray(r).tolist()} for r in data.tensor]


def _predictions(preds: Any) -> list[Any]:
    if isinstance(preds, pd.DataFrame):
        return preds.to_dict(orient="records")
    if isinstance(preds, pd.Series):
        return preds.tolist()
    return np.asarray(preds).tolist()


class PredictionSampler:
    """Samples a share of requests and stores their rows (at most ``max_rows_per_request`` each).

    Args:
        store: the monitoring store.
        model: the name samples are filed under.
        rate: share of requests sampled, in ``[0, 1]``.
        max_samples: samples kept per model in the store (oldest dropped).
        max_rows_per_request: rows of one request kept.
        max_pending: requests waiting to be written; beyond it samples are dropped.
        flush_seconds: how often the background thread writes.
    """

    def __init__(self, store: MonitoringStore, model: str, *, rate: float = 0.1, max_samples: int = 100_000,
                 max_rows_per_request: int = 100, max_pending: int = 10_000, flush_seconds: float = 1.0,
                 seed: int | None = None) -> None:
        self.store, self.model, self.rate = store, model, rate
        self.max_samples, self.max_rows_per_request = max_samples, max_rows_per_request
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self._pending: deque[tuple[Any, ...]] = deque(maxlen=max_pending)
        self._random = random.Random(seed).random
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()  # the writer thread and an API request may flush at once

    def wants(self) -> bool:
        """Whether to sample the current request."""
        return self.rate > 0 and self._random() < self.rate

    def record(self, request_id: str, variant: str, model: Any, data: Any, preds: Any, *,
               name: str | None = None) -> None:
        """Queue one request's inputs and predictions (cheap; the conversion happens later).

        ``name`` files the sample under another model than the sampler's own (see ``for_model``).
        """
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append((time.time(), request_id, variant, model, data, preds, name or self.model))

    def for_model(self, name: str) -> ModelRecorder:
        """A recorder filing samples under ``name`` through this sampler (one writer for many models)."""
        return ModelRecorder(self, name)

    def flush(self) -> int:
        """Write what is pending; returns the number of rows written. Called by the writer thread every
        ``flush_seconds``, and before a check or labels read the samples (so a request scored just
        before is there)."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        batch: list[PredictionSample] = []
        while self._pending:
            when, request_id, variant, model, data, preds, name = self._pending.popleft()
            try:
                rows = _rows(model, data)[: self.max_rows_per_request]
                outs = _predictions(preds)
            except Exception as exc:  # noqa: BLE001 - one odd request must not stop sampling
                log.debug("cannot sample request %s: %s", request_id, exc)
                continue
            batch += [PredictionSample(model=name, request_id=request_id, row=i, time=when, features=r,
                                       prediction=outs[i] if i < len(outs) else None, variant=variant,
                                       version=model.model_uuid) for i, r in enumerate(rows)]
        if batch:
            self.store.add_samples(batch, max_per_model=self.max_samples)
        return len(batch)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - the store may be briefly unavailable
                log.warning("sampling flush failed: %s", exc)


class ModelRecorder:
    """The scoring app's recorder for one model name, sharing a ``PredictionSampler``'s rate and writer."""

    __slots__ = ("name", "sampler")

    def __init__(self, sampler: PredictionSampler, name: str) -> None:
        self.sampler, self.name = sampler, name

    def wants(self) -> bool:
        return self.sampler.wants()

    def record(self, request_id: str, variant: str, model: Any, data: Any, preds: Any) -> None:
        self.sampler.record(request_id, variant, model, data, preds, name=self.name)
