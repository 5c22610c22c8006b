"""Drift and performance breaches as ``opsloop.core.signals.Signal`` — the one shape AIOps consumes.

Every monitoring signal has:

- ``source``: ``monitor:drift`` or ``monitor:performance``; ``kind``: ``model_drift`` or ``model_performance``
- ``service``: the model name; ``labels``: ``{"model": NAME, "feature": F}`` (drift; the prediction is
  ``feature="__prediction__"``) or ``{"model": NAME, "metric": M}`` (performance)
- ``values``: the numbers behind it (``psi``, ``ks_pvalue``, ``jensen_shannon``… or ``observed``, ``bound``)
- ``status``: ``firing`` when a breach starts or persists, ``resolved`` when a check finds it gone
- ``evidence``: the feature's drift entry (``drift.histogram``: reference and current counts over the same
  bins, at most 20) or the performance report

The fingerprint (source, kind, service, labels) identifies the condition, so repeated firings of
one drifted feature correlate into one incident.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict

from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.mlops.monitoring.drift import DriftPolicy
from opsloop.mlops.monitoring.performance import PerformanceReport
from opsloop.mlops.monitoring.records import DriftReport

__all__ = ["drift_signals", "performance_signals"]


def drift_signals(report: DriftReport, previous: DriftReport | Collection[str] | None,
                  policy: DriftPolicy) -> list[Signal]:
    """Firing signals for drifted features; resolved ones for features no longer drifted.

    ``previous``: the features whose drift was firing (or the report before, whose drifted ones were).
    """
    out = []
    was = set(previous.drifted if isinstance(previous, DriftReport) else previous or ())
    for f in report.features:
        if not f.drifted and f.feature not in was:
            continue
        if not f.drifted and f.note:  # no verdict this time: keep the previous state
            continue
        big = f.statistics.get("psi", 0.0) > 2 * policy.psi_threshold or \
            f.statistics.get("jensen_shannon", 0.0) > 2 * policy.js_threshold
        what = "prediction" if f.feature == "__prediction__" else f"feature {f.feature!r}"
        stats = ", ".join(f"{k} {v:.3g}" for k, v in f.statistics.items())
        out.append(Signal(
            time=report.time, source="monitor:drift", kind=SignalKind.MODEL_DRIFT, service=report.model,
            labels={"model": report.model, "feature": f.feature},
            severity=Severity.ERROR if big else Severity.WARNING,
            text=(f"{what} of model {report.model} drifted from its reference ({stats})" if f.drifted
                  else f"{what} of model {report.model} is back in line with its reference"),
            values=dict(f.statistics), status="firing" if f.drifted else "resolved",
            evidence={"drift": asdict(f), "reference_rows": report.reference_rows,
                      "current_rows": report.current_rows},
        ))
    return out


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
                  f"{values.get('bound', float('nan')):.4g}" if firing
                  else f"live {metric} of model {report.model} is back within its bound"),
            values=dict(values), status="firing" if firing else "resolved", evidence=report.to_dict(),
        ))
    return out
