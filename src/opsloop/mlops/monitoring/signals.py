"""Drift and performance breaches as ``opsloop.core.signals.Signal`` — the one shape AIOps consumes.

Every monitoring signal has:

- ``source``: ``monitor:drift`` or ``monitor:performance``; ``kind``: ``model_drift`` or ``model_performance``
- ``service``: the model name; ``labels``: ``{"model": NAME, "feature": F}`` (drift; the prediction is
  ``feature="__prediction__"``) or ``{"model": NAME, "metric": M}`` (performance)
- ``values``: the numbers behind it (``psi``, ``ks_pvalue``, ``jensen_shannon``… or ``observed``, ``bound``)
- ``status``: ``firing`` when a breach starts or persists, ``resolved`` when a check finds it gone
  (or no longer sees the feature: ``evidence.reason`` ``not_in_reference`` / ``not_served``)
- ``evidence``: the feature's drift entry (``drift.histogram``: reference and current counts over the same
  bins, at most 20) or the performance report

The fingerprint (source, kind, service, labels) identifies the condition, so repeated firings of
one drifted feature correlate into one incident.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict, replace
from typing import Any

from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.mlops.monitoring.drift import NOT_SERVED, PREDICTION, DriftPolicy
from opsloop.mlops.monitoring.performance import PerformanceReport
from opsloop.mlops.monitoring.records import DriftReport, FeatureDrift

__all__ = ["drift_signals", "performance_signals", "resolved_as_unregistered"]


def drift_signals(report: DriftReport, previous: DriftReport | Collection[str] | None,
                  policy: DriftPolicy) -> list[Signal]:
    """Firing signals for drifted features; resolved ones for features no longer drifted.

    ``previous``: the features whose drift was firing (or the report before, whose drifted ones were).
    A firing feature the check no longer sees is resolved too, its ``evidence["reason"]`` saying why:
    ``not_in_reference`` (the reference has no such feature now) or ``not_served`` (a full window of
    samples without it). Any other check without a verdict (too few values) keeps the previous state.
    """
    out = []
    was = set(previous.drifted if isinstance(previous, DriftReport) else previous or ())
    for f in report.features:
        if not f.drifted and f.feature not in was:
            continue
        if f.note == NOT_SERVED:
            out.append(_gone(report, f.feature, "not_served", {"drift": asdict(f)}))
        elif f.drifted or not f.note:  # a note without ``NOT_SERVED``: no verdict, keep the previous state
            out.append(_drift_signal(report, f, policy))
    checked = {f.feature for f in report.features}
    out += [_gone(report, name, "not_in_reference", {}) for name in sorted(was - checked)]
    return out


_GONE = {"not_in_reference": "the reference", "not_served": "the served data"}


def _what(report: DriftReport, feature: str) -> str:
    return f"{'prediction' if feature == PREDICTION else f'feature {feature!r}'} of model {report.model}"


def _drift_signal(report: DriftReport, f: FeatureDrift, policy: DriftPolicy) -> Signal:
    big = f.statistics.get("psi", 0.0) > 2 * policy.psi_threshold or \
        f.statistics.get("jensen_shannon", 0.0) > 2 * policy.js_threshold
    what = _what(report, f.feature)
    stats = ", ".join(f"{k} {v:.3g}" for k, v in f.statistics.items())
    return Signal(
        time=report.time, source="monitor:drift", kind=SignalKind.MODEL_DRIFT, service=report.model,
        labels={"model": report.model, "feature": f.feature},
        severity=Severity.ERROR if big else Severity.WARNING,
        text=(f"{what} drifted from its reference ({stats})" if f.drifted
              else f"{what} is back in line with its reference"),
        values=dict(f.statistics), status="firing" if f.drifted else "resolved",
        evidence={"drift": asdict(f), "reference_rows": report.reference_rows,
                  "current_rows": report.current_rows},
    )


def _gone(report: DriftReport, feature: str, reason: str, evidence: dict[str, Any]) -> Signal:
    """The resolution of a firing feature's drift the check no longer measures (``reason``: see ``_GONE``)."""
    return Signal(
        time=report.time, source="monitor:drift", kind=SignalKind.MODEL_DRIFT, service=report.model,
        labels={"model": report.model, "feature": feature}, severity=Severity.WARNING,
        text=f"{_what(report, feature)} is no longer in {_GONE[reason]}: its drift is no longer measured",
        status="resolved", evidence={**evidence, "reason": reason, "reference_rows": report.reference_rows,
                                     "current_rows": report.current_rows},
    )


def performance_signals(report: PerformanceReport, previous_breaches: set[str]) -> list[Signal]:
    """Firing signals for broken bounds; resolved ones for bounds that were broken before."""
    now = time.time()
    out = []
    for metric in sorted(set(report.breaches) | previous_breaches):
        firing = metric in report.breaches
        if not firing and metric not in report.metrics:
            continue
        values = report.breaches.get(metric) or {"observed": report.metrics[metric]}
        out.append(Signal(
            time=now, source="monitor:performance", kind=SignalKind.MODEL_PERFORMANCE, service=report.model,
            labels={"model": report.model, "metric": metric}, severity=Severity.ERROR,
            text=(f"live {metric} of model {report.model} is {values['observed']:.4g}, past its bound "
                  f"{values.get('bound', float('nan')):.4g}{_confidence(values)}" if firing
                  else f"live {metric} of model {report.model} is back within its bound"),
            values=dict(values), status="firing" if firing else "resolved", evidence=report.to_dict(),
        ))
    return out


def _confidence(values: dict[str, float]) -> str:
    """How far the metric is past its bound with the policy's confidence, when that is known."""
    if "upper_confidence" in values:
        return f" (at most {values['upper_confidence']:.4g} with the policy's confidence)"
    if "lower_confidence" in values:
        return f" (at least {values['lower_confidence']:.4g} with the policy's confidence)"
    return ""


def resolved_as_unregistered(firing: list[Signal]) -> list[Signal]:
    """The resolutions of ``firing`` drift and performance signals of a model deleted from the registry:
    nothing checks it any more (``evidence.reason``: ``model_deleted``), so its incident can close."""
    now = time.time()

    def what(s: Signal) -> str:
        return s.labels.get("feature") or s.labels.get("metric") or s.kind

    return [replace(s, time=now, status="resolved", values={}, evidence={"reason": "model_deleted", "previous": s.text},
                    text=f"model {s.service} is no longer registered: its {what(s)} is no longer checked")
            for s in firing]
