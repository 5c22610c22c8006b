"""What monitoring keeps: sampled predictions, ground-truth labels and drift reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["HISTOGRAM_MAX_BINS", "DriftReport", "FeatureDrift", "GroundTruth", "PredictionSample"]

HISTOGRAM_MAX_BINS = 20


@dataclass(slots=True)
class PredictionSample:
    """One served row: its inputs and what the model answered.

    Attributes:
        model: the name samples are filed under (a registered model name).
        request_id: the ``x-request-id`` of the scoring request; ``row`` is the row within it.
        variant: ``champion`` or ``challenger`` (shadow/split traffic records both sides).
        version: the model's MLmodel ``model_uuid`` (or a registry version).
        label: the ground truth, when one was posted for this request and row.
    """

    model: str
    request_id: str
    row: int
    time: float
    features: dict[str, Any]
    prediction: Any
    variant: str = "champion"
    version: str = ""
    label: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class GroundTruth:
    """A true outcome posted later for a served request row."""

    model: str
    request_id: str
    row: int
    value: Any
    time: float = 0.0


@dataclass(slots=True)
class FeatureDrift:
    """Drift of one feature (or of the prediction, ``feature == "__prediction__"``).

    Attributes:
        histogram: the reference and current distributions over the same bins, when a verdict was
            reached: ``{"bins": [label...], "reference": [count...], "current": [count...]}`` plus
            ``edges`` (numeric: the inner bin edges, one fewer than the bins) or ``categories``
            (categorical). At most ``HISTOGRAM_MAX_BINS`` bins; reference counts are the profile's
            proportions times its rows.
    """

    feature: str
    kind: str  # "numeric" or "categorical"
    statistics: dict[str, float]
    drifted: bool
    reference_rows: int
    current_rows: int
    note: str = ""
    histogram: dict[str, Any] | None = None


@dataclass(slots=True)
class DriftReport:
    """Drift of every monitored feature and of the prediction, at one time.

    Attributes:
        reference_revision: the ``revision`` of the reference the samples were compared with.
        newest_sample_time: the ``time`` of the newest sample the check read (``None``: it read none).
            With ``reference_revision`` it says what a check compared, so the schedule (whichever
            process leads it, after any restart) checks a model again only when one of them changed.
    """

    model: str
    time: float
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift] = field(default_factory=list)
    reference_revision: str | None = None
    newest_sample_time: float | None = None

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "time": self.time, "reference_rows": self.reference_rows,
                "current_rows": self.current_rows, "drifted": self.drifted,
                "features": [asdict(f) for f in self.features], "reference_revision": self.reference_revision,
                "newest_sample_time": self.newest_sample_time}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DriftReport:
        """A report from ``to_dict``'s shape (one stored before a field existed has it ``None``)."""
        return cls(model=doc["model"], time=doc["time"], reference_rows=doc["reference_rows"],
                   current_rows=doc["current_rows"], features=[FeatureDrift(**f) for f in doc["features"]],
                   reference_revision=doc.get("reference_revision"),
                   newest_sample_time=doc.get("newest_sample_time"))
