"""Service health of served models: server errors and p99 latency over a rolling window, as signals.

The scoring app counts every ``/invocations`` answer by status class and latency bucket
(``opsloop.mlops.serving.metrics``); nothing here touches the request path. A ``HealthMonitor`` reads
those cumulative counters on each monitoring tick (``observe``), keeps the readings of the last
``MAX_WINDOW_S`` seconds per deployment (``RequestWindow``: one small tuple per tick), and judges
what came within each model's ``HealthPolicy.window_s``:

- ``check=error_rate``: the share of requests that failed: answered 5xx, or raised by the model (answered
  400 "the model rejected the input", as MLflow's scoring server does, but counted apart as ``model_error``:
  a model that raises on every request is failing, not its callers); a client's other 4xx (bad input found
  before the model is called: a malformed body, a missing column, a wrong type) is not the model's fault;
- ``check=latency_p99``: the 99th percentile of the latency of the requests that reached the model (2xx
  and 5xx answers, model errors), estimated inside the latency histogram's buckets as Prometheus' ``histogram_quantile``
  does. A 4xx is answered before the model is asked (bad input, a body too large): its latency, fast or
  slow, says nothing of the model's, so it is left out (``/metrics`` and the deployments API still count
  every answer, as a Prometheus HTTP latency histogram does); the check's ``min_requests`` counts those
  requests only.

A check with fewer than ``min_requests`` requests in its window has no verdict and keeps its state,
except a firing check whose whole window passed without any request it judges (for ``latency_p99``: none
reached the model): the condition is no longer evaluated, so it resolves (as Alertmanager resolves an
alert no rule evaluates any more) with
``evidence["reason"] == "no traffic in window"`` and no observed value. A trickle of requests (at least
one, fewer than ``min_requests``) keeps it firing: those few may all still fail.
A firing check whose threshold is removed (set to ``None``) resolves too (``"check turned off"``).
A check fires once when its value passes the threshold and resolves once it is back at or below
``threshold * resolve_ratio`` (hysteresis: a value hovering at the threshold does not flap). Each
signal is a ``SignalKind.MODEL_HEALTH`` ``Signal`` (source ``monitor:health``, service = the model
name, labels ``model``, ``ref`` (version or alias served) and ``check``), with the observed value,
threshold, window and request count in ``values`` and ``evidence``.

A firing check that can no longer be judged is closed, as Prometheus resolves an alert whose series are
gone: when the readings hold every deployment of the store (``HealthMonitor(every_deployment=True)``, the
server's own), a firing check of a deployment no longer among them (the server stopped counting it: no
worker has it loaded and the deployment tracker forgot it, or the server restarted and nothing scored it
since) resolves with ``evidence["reason"] == "deployment no longer tracked"``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.mlops.monitoring.store import MonitoringStore
from opsloop.mlops.serving.metrics import LATENCY_BUCKETS, MetricsSnapshot, latency_quantile
from opsloop.mlops.serving.router import model_uri_for

__all__ = ["CHECKS", "MAX_WINDOW_S", "HealthMonitor", "HealthPolicy", "RequestCounts", "RequestWindow",
           "evaluate", "latency_quantile"]

CHECKS = ("error_rate", "latency_p99")
NO_TRAFFIC = "no traffic in window"  # the reason a firing check whose window passed without a request resolves
TURNED_OFF = "check turned off"  # the reason a firing check whose threshold was removed resolves
UNTRACKED = "deployment no longer tracked"  # the reason a check of a deployment gone from the readings is closed
MAX_WINDOW_S = 3600.0  # the longest window a policy may ask for: readings older than that are dropped
SOURCE = "monitor:health"
UNTRACKED_SCAN = 2000  # the newest health signals read for checks of deployments gone from the readings


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Thresholds of a served model's health checks (set with ``{"health": {...}}`` in its reference).

    Attributes:
        window_s: seconds of traffic each check judges (at most ``MAX_WINDOW_S``).
        min_requests: requests the window needs for a verdict (1 failure out of 2 does not page).
        max_error_rate: share of requests answered 5xx above which ``error_rate`` fires (``None``: off).
        max_latency_p99_s: p99 latency in seconds above which ``latency_p99`` fires (``None``: off;
            at most the largest latency bucket, 5 s).
        resolve_ratio: a firing check resolves at or below ``threshold * resolve_ratio``.
    """

    window_s: float = 300.0
    min_requests: int = 20
    max_error_rate: float | None = 0.05
    max_latency_p99_s: float | None = 1.0
    resolve_ratio: float = 0.8

    def threshold(self, check: str) -> float | None:
        return self.max_error_rate if check == "error_rate" else self.max_latency_p99_s


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """Requests of one deployment (cumulative, or within a window).

    Attributes:
        requests: answered requests (every status class).
        server_errors: those answered 5xx.
        latency_counts: requests that reached the model (not the other 4xx answers) per bucket of
            ``LATENCY_BUCKETS`` plus the overflow bucket (not cumulative).
        model_errors: those the model raised on (answered 400, as MLflow does: ``ModelFailedError``).
    """

    requests: int = 0
    server_errors: int = 0
    latency_counts: tuple[int, ...] = field(default=(0,) * (len(LATENCY_BUCKETS) + 1))
    model_errors: int = 0

    @classmethod
    def of(cls, snap: MetricsSnapshot) -> RequestCounts:
        """A scoring app's cumulative counts, from its metrics' snapshot."""
        return cls(snap.requests, snap.status["5xx"], snap.model_latency_counts, snap.model_errors)

    @property
    def failures(self) -> int:
        """The requests the error-rate check counts as failed: 5xx answers and the model's own errors."""
        return self.server_errors + self.model_errors

    def minus(self, earlier: RequestCounts) -> RequestCounts:
        """What came after ``earlier``; everything when the counters went backwards (they were reset)."""
        if (self.requests < earlier.requests or self.server_errors < earlier.server_errors
                or self.model_errors < earlier.model_errors):
            return self
        return RequestCounts(self.requests - earlier.requests, self.server_errors - earlier.server_errors,
                             tuple(a - b for a, b in zip(self.latency_counts, earlier.latency_counts, strict=True)),
                             self.model_errors - earlier.model_errors)


class RequestWindow:
    """The cumulative counter readings of one deployment over the last ``MAX_WINDOW_S`` seconds."""

    def __init__(self) -> None:
        self._readings: deque[tuple[float, RequestCounts]] = deque()

    def observe(self, now: float, counts: RequestCounts) -> None:
        self._readings.append((now, counts))
        # keep the newest reading at or before the longest window's start: it is that window's baseline
        while len(self._readings) > 1 and self._readings[1][0] <= now - MAX_WINDOW_S:
            self._readings.popleft()

    def covers(self, seconds: float, now: float) -> bool:
        """Whether the readings reach back over the last ``seconds`` (one was taken at or before their start)."""
        return bool(self._readings) and self._readings[0][0] <= now - seconds

    def over(self, seconds: float, now: float) -> RequestCounts:
        """What came within the last ``seconds``: the newest reading minus the newest one at or before the
        window's start (none: everything counted, i.e. since the counters started, all within reach)."""
        if not self._readings:
            return RequestCounts()
        baseline = RequestCounts()
        for at, counts in self._readings:
            if at > now - seconds:
                break
            baseline = counts
        return self._readings[-1][1].minus(baseline)


def evaluate(policy: HealthPolicy, counts: RequestCounts, firing: bool, check: str) -> tuple[str | None, float | None]:
    """``(status, observed)`` of one check: ``"firing"`` past the threshold, ``"resolved"`` when it was firing
    and is back at or below ``threshold * resolve_ratio``, else ``None`` (no change, or no verdict: the
    check is off or the window has fewer than ``min_requests`` requests)."""
    threshold = policy.threshold(check)
    if threshold is None or _judged(counts, check) < max(1, policy.min_requests):
        return None, None
    observed = (counts.failures / counts.requests if check == "error_rate"
                else latency_quantile(counts.latency_counts, 0.99))
    if observed is None:
        return None, None
    if observed > threshold:
        return ("firing" if not firing else None), observed
    if firing and observed <= threshold * policy.resolve_ratio:
        return "resolved", observed
    return None, observed


def _judged(counts: RequestCounts, check: str) -> int:
    """The requests check ``check`` judges: every one for the error rate; for the latency, those that reached
    the model (no 4xx)."""
    return counts.requests if check == "error_rate" else sum(counts.latency_counts)


def _change(name: str, ref: str, check: str, policy: HealthPolicy, window: RequestWindow, counts: RequestCounts,
            fired: Signal | None, now: float) -> tuple[Signal | None, float | None]:
    """The signal check ``check`` of deployment ``(name, ref)`` sends now (``None``: no change) and its observed
    value; ``counts`` came within ``policy.window_s`` of ``window``, ``fired`` is its firing signal (if any).
    A firing check whose whole window passed without a request it judges resolves (``NO_TRAFFIC``), and so
    does one whose threshold was removed (``TURNED_OFF``)."""
    status, observed = evaluate(policy, counts, fired is not None, check)
    if fired is not None and policy.threshold(check) is None:
        return _closed(fired, now, TURNED_OFF, "its threshold was removed (set to null)"), None
    if status is not None:
        return _health_signal(name, ref, check, status, observed or 0.0, counts, policy, now), observed
    if fired is not None and not _judged(counts, check) and window.covers(policy.window_s, now):
        return _closed(fired, now, NO_TRAFFIC, f"no requests in the last {policy.window_s:g} s"), observed
    return None, observed


def _closed(fired: Signal, now: float, reason: str, why: str) -> Signal:
    """The resolution of firing signal ``fired`` whose check can no longer be judged (``reason``): the same
    labels (it resolves the same condition) and severity, the threshold it had, no observed value."""
    name, ref, check = fired.service, fired.labels.get("ref", ""), fired.labels.get("check", "")
    kept: dict[str, float] = {k: fired.values[k] for k in ("threshold", "window_s") if k in fired.values}
    return Signal(
        time=now, source=SOURCE, kind=SignalKind.MODEL_HEALTH, service=name, labels=dict(fired.labels),
        severity=fired.severity, status="resolved", values=kept,
        text=f"{check} check of model {name} ({ref}) closed without a verdict: {why}",
        evidence={"check": check, "reason": reason, **kept, "model_uri": model_uri_for(name, ref)},
    )


def _health_signal(name: str, ref: str, check: str, status: str, observed: float, counts: RequestCounts,
                   policy: HealthPolicy, now: float) -> Signal:
    threshold = policy.threshold(check) or 0.0
    if check == "error_rate":
        what = (f"{observed:.1%} of requests to model {name} ({ref}) failed ({counts.server_errors} server "
                f"error{'s' * (counts.server_errors != 1)}, {counts.model_errors} raised by the model)")
        limit = f"{threshold:.1%}"
        severity = Severity.CRITICAL if observed >= min(1.0, 2 * threshold) else Severity.ERROR
    else:
        what = f"p99 latency of model {name} ({ref}) is {observed * 1000:.0f} ms"
        limit = f"{threshold * 1000:.0f} ms"
        severity = Severity.ERROR if observed >= 2 * threshold else Severity.WARNING
    window = f"the last {policy.window_s:g} s, {counts.requests} requests"
    text = (f"{what}, over its threshold {limit} ({window})" if status == "firing"
            else f"{what}: back within its threshold {limit} ({window})")
    return Signal(
        time=now, source=SOURCE, kind=SignalKind.MODEL_HEALTH, service=name,
        labels={"model": name, "ref": ref, "check": check}, severity=severity,
        text=text, status=status,
        values={"observed": observed, "threshold": threshold, "requests": float(counts.requests),
                "server_errors": float(counts.server_errors), "model_errors": float(counts.model_errors),
                "window_s": policy.window_s},
        evidence={"check": check, "observed": observed, "threshold": threshold, "window_s": policy.window_s,
                  "requests": counts.requests, "server_errors": counts.server_errors,
                  "model_errors": counts.model_errors,
                  "latency_p99_s": latency_quantile(counts.latency_counts, 0.99),
                  "resolve_below": threshold * policy.resolve_ratio, "model_uri": model_uri_for(name, ref),
                  "policy": asdict(policy)},
    )


class HealthMonitor:
    """Health checks of every served deployment, from counter readings handed to ``observe``.

    Args:
        store: where signals are kept (``GET /monitoring/signals``); the newest stored signal of each check
            is its state, read at every round, so a restarted server, a new leader of the schedule or another
            worker judging on request resolves what an earlier one fired, and does not fire it again.
        policy_for: a model name's ``HealthPolicy`` (e.g. from its reference's ``health`` thresholds).
        every_deployment: the readings handed to ``observe`` hold every deployment whose signals ``store``
            keeps (a server's, reading the counters of all its workers): a firing check of a deployment not
            among them is closed (``UNTRACKED``). ``False`` (a store shared with other serving processes):
            only the deployments read are judged.

    ``on_signals`` (settable) is called with each round's signals once they are stored.
    """

    def __init__(self, store: MonitoringStore, policy_for: Callable[[str], HealthPolicy] | None = None, *,
                 every_deployment: bool = False) -> None:
        self.store = store
        self.policy_for = policy_for or (lambda _name: HealthPolicy())
        self.every_deployment = every_deployment
        self.on_signals: Callable[[list[Signal]], None] | None = None
        self._windows: dict[tuple[str, str], RequestWindow] = {}
        self._lock = threading.Lock()  # the schedule and the API may judge at once: one after the other

    def observe(self, readings: Mapping[tuple[str, str], RequestCounts], now: float | None = None,
                *, emit: bool = True) -> dict[str, Any]:
        """Read every deployment's cumulative counters (``(name, ref) -> RequestCounts``), judge each check
        over its model's window, store and hand on the signals (when ``emit``). Returns every deployment's
        state and the signals sent."""
        now = time.time() if now is None else now
        with self._lock:  # judged and stored before another round reads the state
            signals, states = self._judge(readings, now, emit)
            for s in signals:
                self.store.add_signal(s)
        if signals and self.on_signals is not None:
            self.on_signals(signals)
        return {"deployments": states, "signals": [s.to_dict() for s in signals]}

    def _judge(self, readings: Mapping[tuple[str, str], RequestCounts], now: float,
               emit: bool) -> tuple[list[Signal], list[dict[str, Any]]]:
        signals: list[Signal] = []
        states = []
        for gone in self._windows.keys() - readings.keys():  # a deployment no longer counted: its readings go
            del self._windows[gone]
        firing: dict[str, dict[tuple[str, str], Signal]] = {}
        for (name, ref), total in sorted(readings.items()):
            window = self._windows.setdefault((name, ref), RequestWindow())
            window.observe(now, total)
            policy = self.policy_for(name)
            counts = window.over(policy.window_s, now)
            was = firing[name] if name in firing else firing.setdefault(name, self._firing_checks(name))
            checks = {}
            for check in CHECKS:
                key = (ref, check)
                sent, observed = _change(name, ref, check, policy, window, counts, was.get(key), now)
                if sent is not None and emit:
                    signals.append(sent)
                    if sent.status == "firing":
                        was[key] = sent
                    else:
                        del was[key]
                checks[check] = {"observed": observed, "threshold": policy.threshold(check), "firing": key in was}
            states.append({"model": name, "ref": ref, "window_s": policy.window_s, "requests": counts.requests,
                           "server_errors": counts.server_errors, "model_errors": counts.model_errors,
                           "checks": checks})
        if self.every_deployment and emit:
            signals += [_closed(fired, now, UNTRACKED, "the server no longer counts its requests (no worker has "
                                "it loaded; or nothing scored it since the server started)")
                        for fired in self._firing_untracked(readings)]
        return signals, states

    def _firing_untracked(self, readings: Mapping[tuple[str, str], RequestCounts]) -> list[Signal]:
        """The newest stored signal of each check that is firing for a deployment not in ``readings`` (of the
        newest ``UNTRACKED_SCAN`` health signals: only a change of state is stored, so they reach far back)."""
        firing = _newest_firing(self.store.list_signals(kind=SignalKind.MODEL_HEALTH, limit=UNTRACKED_SCAN))
        return [s for (name, ref, _check), s in sorted(firing.items()) if (name, ref) not in readings]

    def _firing_checks(self, name: str) -> dict[tuple[str, str], Signal]:
        """The newest stored health signal of each ``(ref, check)`` of model ``name``, where it is firing."""
        firing = _newest_firing(self.store.list_signals(model=name, kind=SignalKind.MODEL_HEALTH, limit=500))
        return {(ref, check): s for (_name, ref, check), s in firing.items()}


def _newest_firing(signals: list[Signal]) -> dict[tuple[str, str, str], Signal]:
    """Of health signals listed newest first, each check's newest, by ``(model, ref, check)``, where it is firing
    (its state: only a change of state is stored)."""
    newest: dict[tuple[str, str, str], Signal] = {}
    for s in signals:
        labels = s.labels
        newest.setdefault((labels.get("model", s.service), labels.get("ref", ""), labels.get("check", "")), s)
    return {key: s for key, s in newest.items() if s.status == "firing"}
