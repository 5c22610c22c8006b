"""The ``MonitoringStore`` contract: samples, labels, references, drift reports and signals."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from opsloop.core.signals import Signal
from opsloop.mlops.monitoring.records import DriftReport, GroundTruth, PredictionSample

__all__ = ["MonitoringStore", "open_store"]


class MonitoringStore(ABC):
    """Where production monitoring keeps its data. Every backend passes the same test suite."""

    @abstractmethod
    def add_samples(self, samples: Sequence[PredictionSample], *, max_per_model: int | None = None) -> None:
        """Append samples; keep at most ``max_per_model`` per model (oldest dropped first)."""

    @abstractmethod
    def list_samples(self, model: str, *, variant: str | None = None, since: float | None = None,
                     limit: int | None = None, labelled_only: bool = False) -> list[PredictionSample]:
        """Samples of ``model``, newest first, with ``label`` filled in where one was posted."""

    @abstractmethod
    def count_samples(self, model: str) -> int:
        """How many samples ``model`` has."""

    @abstractmethod
    def add_labels(self, labels: Sequence[GroundTruth]) -> int:
        """Store ground truth; returns how many labels match a stored sample."""

    @abstractmethod
    def save_reference(self, model: str, profile: dict[str, Any]) -> None:
        """Replace the reference (training data) profile of ``model``."""

    @abstractmethod
    def get_reference(self, model: str) -> dict[str, Any] | None:
        """The reference profile of ``model``, or ``None``."""

    @abstractmethod
    def reference_models(self) -> list[str]:
        """Names of the models that have a reference, sorted."""

    @abstractmethod
    def add_drift_report(self, report: DriftReport) -> None: ...

    @abstractmethod
    def list_drift_reports(self, model: str, *, limit: int = 10) -> list[DriftReport]:
        """Reports of ``model``, newest first."""

    @abstractmethod
    def add_signal(self, signal: Signal) -> None: ...

    @abstractmethod
    def list_signals(self, *, model: str | None = None, kind: str | None = None, since: float | None = None,
                     limit: int = 100) -> list[Signal]:
        """Signals, newest first; ``model`` matches the signal's ``labels["model"]``."""


def open_store(url: str) -> MonitoringStore:
    """A store for ``url``: ``memory://`` or an SQLAlchemy URL (``sqlite:///monitoring.db``…).

    Raises:
        InvalidInputError: the URL names no supported backend.
    """
    if url in ("memory://", "memory", ":memory:"):
        from opsloop.mlops.monitoring.memory import InMemoryMonitoringStore

        return InMemoryMonitoringStore()
    from opsloop.mlops.monitoring.sql import SqlMonitoringStore

    return SqlMonitoringStore(url)
