"""``ModelMonitor``: drift and live performance of one served model, kept in a ``MonitoringStore``."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from opsloop.core.signals import Signal, SignalKind
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.monitoring import lineage
from opsloop.mlops.monitoring.drift import DriftPolicy, build_profile, compute_drift
from opsloop.mlops.monitoring.performance import PerformancePolicy, PerformanceReport, live_performance
from opsloop.mlops.monitoring.records import DriftReport, GroundTruth, PredictionSample
from opsloop.mlops.monitoring.signals import drift_signals, performance_signals
from opsloop.mlops.monitoring.store import MonitoringStore, ReferenceChangedError

__all__ = ["ModelMonitor"]


class ModelMonitor:
    """Checks one model's samples against its reference and its labels; breaches become signals.

    Args:
        store: where samples, labels, reports and signals live.
        model: the name samples are filed under.
        drift_policy, performance_policy: thresholds (defaults: PSI > 0.2 beyond chance, KS and
            chi-square at 0.1 %, JS > 0.05; no performance bound).
    """

    def __init__(self, store: MonitoringStore, model: str, *, drift_policy: DriftPolicy | None = None,
                 performance_policy: PerformancePolicy | None = None) -> None:
        self.store = store
        self.model = model
        self.drift_policy = drift_policy or DriftPolicy()
        self.performance_policy = performance_policy or PerformancePolicy()
        # called with the signals of each check once they are stored (e.g. a SignalForwarder's send)
        self.on_signals: Callable[[list[Signal]], None] | None = None

    def set_reference(self, frame: pd.DataFrame, predictions: Any = None, *,
                      policies: dict[str, dict[str, Any]] | None = None,
                      origin: dict[str, Any] | None = None,
                      replacing: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Profile ``frame`` (training/reference data) and keep it as the drift reference.

        ``policies`` (``{"drift": {...}, "performance": {...}}``, see ``monitoring.reference``) are
        kept with the profile, for monitors built from it; so is ``origin`` (see ``monitoring.lineage``).
        ``replacing``: the stored reference this one is derived from (a rebuild for a moved alias); it
        is kept only while that one is still the stored reference, so a reference set meanwhile stays.

        Raises:
            ReferenceChangedError: ``replacing`` is no longer the stored reference (nothing is written).
        """
        profile = build_profile(frame, predictions)
        if policies:
            profile["policies"] = policies
        if origin:
            profile["origin"] = origin
        if replacing is None:
            self.store.save_reference(self.model, profile)
        elif not self.store.replace_reference(self.model, profile, revision=replacing.get("revision")):
            raise ReferenceChangedError(f"the drift reference of model {self.model!r} was set meanwhile; "
                                        "it is kept", field="reference")
        return profile

    def check_drift(self) -> tuple[DriftReport, list[Signal]]:
        """Compare the newest champion samples with the reference; store the report and signals.

        Raises:
            NotFoundError: no reference has been set for the model.
        """
        profile = self.store.get_reference(self.model)
        if profile is None:
            raise NotFoundError(f"model {self.model!r} has no drift reference; set one first "
                                "(opsloop models reference, or serve --reference)", field="reference")
        read = self._window(profile, self.drift_policy.window)
        # the features whose drift fired: a check without a verdict (too few samples) keeps them firing,
        # and they resolve only once clearly back in line (``drift.RESOLVE_RATIO``)
        firing = self._firing(SignalKind.MODEL_DRIFT, "feature")
        report = compute_drift(self.model, profile, lineage.samples_of(profile.get("origin"), read),
                               self.drift_policy, drifted=firing)
        report.reference_revision, report.newest_sample_time = _compared(profile, read)
        signals = drift_signals(report, firing, self.drift_policy)
        for s in signals:
            self.store.add_signal(s)
        self._emitted(signals)
        # Last: once its report is stored the check is done (``drift_due``); a process that stops before
        # leaves it due, so the leader after it checks again rather than never sending these signals.
        self.store.add_drift_report(report)
        return report, signals

    def drift_due(self) -> bool:
        """Whether ``check_drift`` would compare something the last check did not: a sample newer than
        the newest it read, or another reference (a new revision). ``False`` without a reference.

        What the last check compared is in its stored report, so this answers the same in every
        process: a schedule's new leader (or a restarted server) does not check, and send, again what
        was checked already.
        """
        profile = self.store.get_reference(self.model)
        if profile is None:
            return False
        last = self.store.list_drift_reports(self.model, limit=1)
        return not last or (last[0].reference_revision, last[0].newest_sample_time) != _compared(
            profile, self._window(profile, 1))

    def _window(self, profile: Mapping[str, Any], limit: int) -> list[PredictionSample]:
        """The newest champion samples a check of ``profile`` reads (a reference that followed its alias:
        those since, of which ``lineage.samples_of`` keeps the new version's), newest first."""
        since = (profile.get("origin") or {}).get("samples_since")
        return self.store.list_samples(self.model, variant="champion", since=since, limit=limit)

    def check_performance(self, *, emit: bool = True) -> tuple[PerformanceReport, list[Signal]]:
        """Live metrics over labelled samples; breaches (and recoveries) become signals when ``emit``."""
        sent = self._newest(SignalKind.MODEL_PERFORMANCE, "metric")
        report = self._performance(sent)
        if not emit:
            return report, []
        signals = _performance_signals(report, sent)
        self._send(signals)
        return report, signals

    def check_performance_when_due(self) -> list[Signal] | None:
        """``check_performance`` when ``performance_due``, the labelled samples read and measured once;
        ``None`` (nothing sent) when it is not due."""
        sent = self._newest(SignalKind.MODEL_PERFORMANCE, "metric")
        signals = _performance_signals(self._performance(sent), sent)
        if not _due(signals, sent):
            return None
        self._send(signals)
        return signals

    def _send(self, signals: list[Signal]) -> None:
        # Handed on first, stored last: a stored signal counts as sent (``performance_due``), so a process
        # that stops between the two leaves the check due and the leader after it sends them again.
        self._emitted(signals)
        for s in signals:
            self.store.add_signal(s)

    def performance_due(self) -> bool:
        """Whether ``check_performance`` would send what was not sent already: a breach over labelled
        samples other than those of its metric's newest signal (a new or corrected label, or a sample
        scored before its label came: the report's ``labelled_digest``), or against another bound; or
        a resolution. ``False`` when it would send nothing.

        Each signal carries the report of its check, and the signals are in the store, so this answers
        the same in every process: a schedule's new leader (or a restarted server) does not send again a
        breach still firing over the labels already checked.
        """
        sent = self._newest(SignalKind.MODEL_PERFORMANCE, "metric")
        return _due(_performance_signals(self._performance(sent), sent), sent)

    def _performance(self, sent: Mapping[str, Signal]) -> PerformanceReport:
        """Live performance, a metric whose newest signal (``sent``) fires staying breached while past its bound."""
        # A reference that followed its alias (a promoted retrain) judges what the new version answered,
        # as drift does: labels coming late for the previous version's answers would keep its breach firing.
        origin = (self.store.get_reference(self.model) or {}).get("origin")
        samples = self.store.list_samples(self.model, variant="champion", labelled_only=True,
                                          since=(origin or {}).get("samples_since"),
                                          limit=self.performance_policy.window)
        firing = {metric for metric, s in sent.items() if s.status == "firing"}
        return live_performance(self.model, lineage.samples_of(origin, samples), self.performance_policy,
                                firing=firing)

    def _firing(self, kind: str, label: str) -> set[str]:
        """The ``label`` values (features, metrics) whose newest signal of ``kind`` is firing."""
        return {name for name, s in self._newest(kind, label).items() if s.status == "firing"}

    def _newest(self, kind: str, label: str, limit: int = 500) -> dict[str, Signal]:
        """The newest signal of ``kind`` of each ``label`` value (feature, metric)."""
        newest: dict[str, Signal] = {}
        for s in self.store.list_signals(model=self.model, kind=kind, limit=limit):
            newest.setdefault(s.labels.get(label, ""), s)
        return newest

    def _emitted(self, signals: list[Signal]) -> None:
        if signals and self.on_signals is not None:
            self.on_signals(signals)

    def post_labels(self, doc: Any) -> dict[str, int]:
        """Store ground truth posted as ``{"request_id": ID, "values": [...]}`` (one per row),
        ``{"request_id": ID, "value": V}`` (row 0) or ``{"labels": [{"request_id", "row", "value"}…]}``.

        Raises:
            InvalidInputError: the document has none of these shapes.
        """
        labels = parse_labels(self.model, doc)
        return {"received": len(labels), "matched": self.store.add_labels(labels)}

    def comparison(self, limit: int = 5000) -> dict[str, Any]:
        """Champion vs challenger on the same shadowed rows: agreement and mean absolute difference."""
        champ = {(s.request_id, s.row): s.prediction
                 for s in self.store.list_samples(self.model, variant="champion", limit=limit)}
        pairs = [(champ[(s.request_id, s.row)], s.prediction)
                 for s in self.store.list_samples(self.model, variant="challenger", limit=limit)
                 if (s.request_id, s.row) in champ]
        if not pairs:
            return {"model": self.model, "pairs": 0}
        agree = sum(a == b for a, b in pairs) / len(pairs)
        doc: dict[str, Any] = {"model": self.model, "pairs": len(pairs), "agreement": agree}
        if all(_number(a) and _number(b) for a, b in pairs):  # a regressor's: labels ("1", True) have no distance
            finite = [abs(a - b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
            if finite:
                doc["mean_abs_difference"] = sum(finite) / len(finite)
        return doc


def _number(v: Any) -> bool:
    """A real number (not a bool, not a numeric string)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def _compared(profile: Mapping[str, Any], read: Sequence[PredictionSample]) -> tuple[str | None, float | None]:
    """What a check of ``profile`` over the samples it ``read`` (newest first) compares: the reference's
    revision and the newest sample's time."""
    return profile.get("revision"), read[0].time if read else None


def _performance_signals(report: PerformanceReport, newest: Mapping[str, Signal]) -> list[Signal]:
    """The signals a check giving ``report`` sends, each metric's ``newest`` signal before it being known:
    a firing one for each breach, a resolved one for each metric firing before and within bound now."""
    firing = {metric for metric, s in newest.items() if s.status == "firing"}
    return [s for s in performance_signals(report, firing) if s.status == "firing" or s.labels["metric"] in firing]


def _due(signals: list[Signal], sent: Mapping[str, Signal]) -> bool:
    """Whether some of ``signals`` tell what the newest signal of their metric (``sent``) did not."""
    return any(not _already_sent(s, sent.get(s.labels["metric"])) for s in signals)


def _already_sent(signal: Signal, sent: Signal | None) -> bool:
    """Whether ``sent`` (the newest signal of ``signal``'s metric) told the same: the same status against
    the same bound, over the same labelled samples (the observed value follows from those two)."""
    def told(s: Signal) -> tuple[Any, ...]:
        return s.status, s.values.get("bound"), s.evidence.get("labelled_digest")

    return sent is not None and told(sent) == told(signal)


def parse_labels(model: str, doc: Any) -> Sequence[GroundTruth]:
    now = time.time()
    if isinstance(doc, dict) and isinstance(doc.get("labels"), list):
        items = doc["labels"]
    elif isinstance(doc, dict) and "request_id" in doc and isinstance(doc.get("values"), list):
        items = [{"request_id": doc["request_id"], "row": i, "value": v} for i, v in enumerate(doc["values"])]
    elif isinstance(doc, dict) and "request_id" in doc and "value" in doc:
        items = [{"request_id": doc["request_id"], "row": doc.get("row", 0), "value": doc["value"]}]
    else:
        raise InvalidInputError('labels must be {"request_id": ID, "values": [...]}, {"request_id": ID, '
                                '"value": V} or {"labels": [{"request_id", "row", "value"}, ...]}', field="body")
    return [_label(model, i, item, now) for i, item in enumerate(items)]


MAX_ROW = 2**31 - 1  # the row column is a 32-bit INTEGER on PostgreSQL; no request has more rows


def _label(model: str, i: int, item: Any, now: float) -> GroundTruth:
    """Label ``i`` of a post, checked (a 400 naming the field, not a 500 from the database or the metric)."""
    if not isinstance(item, dict) or "request_id" not in item or "value" not in item:
        raise InvalidInputError(f"label {i} needs 'request_id' and 'value'", field="labels")
    request_id = item["request_id"]
    # a NUL is in no x-request-id (no HTTP header carries one), and PostgreSQL stores none in text: a 500
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or not str(request_id).strip() \
            or "\x00" in str(request_id):
        raise InvalidInputError(f"label {i}: 'request_id' must be the x-request-id of a scoring request; "
                                f"got {request_id!r}", field="request_id")
    row = item.get("row", 0)
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row <= MAX_ROW:
        raise InvalidInputError(f"label {i}: 'row' must be an integer from 0 to {MAX_ROW}; got {row!r}",
                                field="row")
    value = item["value"]
    # json.loads reads NaN, Infinity and integers of any size; such a label would make every live metric
    # NaN, or fail each check of the model (an integer past a float's range)
    if isinstance(value, float) and not math.isfinite(value) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_FLOAT):
        raise InvalidInputError(f"label {i}: 'value' must be a finite number, a string or null; got {value}",
                                field="value")
    return GroundTruth(model=model, request_id=str(request_id), row=row, value=value, time=now)


_MAX_FLOAT = int(sys.float_info.max)
