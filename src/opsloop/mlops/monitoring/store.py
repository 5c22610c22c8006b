"""The ``MonitoringStore`` contract: samples, labels, references, drift reports and signals."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from opsloop.core.signals import Signal
from opsloop.errors import InvalidStateError
from opsloop.mlops.monitoring.records import DriftReport, GroundTruth, PredictionSample

__all__ = ["MonitoringStore", "ReferenceChangedError", "open_store", "revised"]


class ReferenceChangedError(InvalidStateError):
    """The reference a new one was derived from is no longer the stored one (it was set meanwhile)."""


def revised(profile: Mapping[str, Any]) -> dict[str, Any]:
    """``profile`` with a new ``revision``: every write of a reference gets one, so a writer can
    tell whether the reference it read is still the stored one (``replace_reference``)."""
    return {**profile, "revision": uuid.uuid4().hex}


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
        """Replace the reference (training data) profile of ``model`` (stored ``revised``)."""

    @abstractmethod
    def replace_reference(self, model: str, profile: dict[str, Any], *, revision: str | None) -> bool:
        """Store ``profile`` (``revised``) as ``model``'s reference only while the stored one is still
        ``revision`` (``None``: one stored before references had revisions); the comparison and the
        write are one transaction. Returns whether it was written (not when there is no reference)."""

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
