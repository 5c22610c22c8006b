"""An in-process ``MonitoringStore`` (tests, single-worker servers)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from opsloop.core.signals import Signal
from opsloop.mlops.monitoring.records import DriftReport, GroundTruth, PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore, revised

__all__ = ["InMemoryMonitoringStore"]


class InMemoryMonitoringStore(MonitoringStore):
    """Keeps everything in dictionaries guarded by one lock; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, deque[PredictionSample]] = defaultdict(deque)
        self._labels: dict[tuple[str, str, int], Any] = {}
        self._refs: dict[str, dict[str, Any]] = {}
        self._reports: dict[str, list[DriftReport]] = defaultdict(list)
        self._signals: list[Signal] = []

    def add_samples(self, samples: Sequence[PredictionSample], *, max_per_model: int | None = None) -> None:
        with self._lock:
            for s in samples:
                q = self._samples[s.model]
                q.append(s)
                while max_per_model is not None and len(q) > max_per_model:
                    q.popleft()

    def list_samples(self, model: str, *, variant: str | None = None, since: float | None = None,
                     limit: int | None = None, labelled_only: bool = False) -> list[PredictionSample]:
        out = []
        with self._lock:
            for s in reversed(self._samples.get(model, ())):
                if (variant and s.variant != variant) or (since is not None and s.time < since):
                    continue
                key = (model, s.request_id, s.row)
                if labelled_only and key not in self._labels:
                    continue
                copy = PredictionSample(**{**s.to_dict(), "label": self._labels.get(key)})
                out.append(copy)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def count_samples(self, model: str) -> int:
        with self._lock:
            return len(self._samples.get(model, ()))

    def add_labels(self, labels: Sequence[GroundTruth]) -> int:
        with self._lock:
            keys = {(s.model, s.request_id, s.row) for q in self._samples.values() for s in q}
            for g in labels:
                self._labels[(g.model, g.request_id, g.row)] = g.value
            return sum((g.model, g.request_id, g.row) in keys for g in labels)

    def save_reference(self, model: str, profile: dict[str, Any]) -> None:
        with self._lock:
            self._refs[model] = revised(profile)

    def replace_reference(self, model: str, profile: dict[str, Any], *, revision: str | None) -> bool:
        with self._lock:
            stored = self._refs.get(model)
            if stored is None or stored.get("revision") != revision:
                return False
            self._refs[model] = revised(profile)
            return True

    def get_reference(self, model: str) -> dict[str, Any] | None:
        with self._lock:
            return self._refs.get(model)

    def reference_models(self) -> list[str]:
        with self._lock:
            return sorted(self._refs)

    def add_drift_report(self, report: DriftReport) -> None:
        with self._lock:
            self._reports[report.model].append(report)

    def list_drift_reports(self, model: str, *, limit: int = 10) -> list[DriftReport]:
        with self._lock:
            return list(reversed(self._reports.get(model, [])))[:limit]

    def add_signal(self, signal: Signal) -> None:
        with self._lock:
            self._signals.append(signal)

    def list_signals(self, *, model: str | None = None, kind: str | None = None, since: float | None = None,
                     limit: int = 100) -> list[Signal]:
        with self._lock:
            found = [s for s in reversed(self._signals)
                     if (model is None or s.labels.get("model") == model)
                     and (kind is None or str(s.kind) == kind) and (since is None or s.time >= since)]
        return found[:limit]
