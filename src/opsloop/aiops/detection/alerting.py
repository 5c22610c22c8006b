"""Alert thresholds with hysteresis: one anomaly episode gives one firing and one resolved signal.

An episode opens when the anomaly probability reaches ``on`` and closes only after it has stayed
below ``off`` (< ``on``) for ``clear_after`` consecutive points, so a probability hovering around
the threshold or a long anomaly does not flap.

With ``likelihood`` on (off by default), the alerter also reads the anomaly likelihood of the
probabilities it is given (``AnomalyLikelihood``: how unusual the recent average surprise is for
this series): a point opens or holds an episode only while that likelihood reaches
``likelihood_gate``, so an isolated spike in a series that spikes often does not page, while a
sustained change does; a likelihood reaching ``likelihood_alone`` opens an episode by itself (a long
run of moderate surprise). Until the likelihood has learned the series (388 points by default) the
probabilities pass unchanged. docs/benchmarks.md (2026-12-07) gives its figures and why it is not
the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsloop.aiops.detection.likelihood import AnomalyLikelihood
from opsloop.core.detectors import ExpectedBand
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["HysteresisAlerter"]


class HysteresisAlerter:
    """Per-series episode state machine that turns probabilities into ``metric_anomaly`` signals.

    Args:
        on: probability that opens an episode.
        off: probability below which an episode may close.
        clear_after: consecutive points below ``off`` that close an episode.
        refractory: points after a firing during which no new episode may open (it extends the
            episode of the same incident rather than paging twice).
        fatigue: each recent firing multiplies the tail probability ``1 - on`` needed to open the
            next episode by this factor (1: off), so a series that keeps alerting needs stronger
            evidence; ``fatigue_halflife`` (points) is how fast that memory fades.
        confirm: points to wait after the threshold is reached before firing (like Prometheus'
            ``for:``); the signal then carries the highest probability seen while pending.
        source: the ``Signal.source`` of emitted signals.
        likelihood: ``AnomalyLikelihood`` parameters, True for its defaults, False (the default) to
            read the probabilities alone.
        likelihood_gate: while the likelihood is below this, a point counts as normal (it neither
            opens an episode nor keeps one open).
        likelihood_alone: a likelihood at or above this counts as the point's probability when it
            is higher (a sustained run of moderate surprise opens an episode by itself).
    """

    def __init__(
        self,
        on: float = 0.9995,
        off: float = 0.95,
        clear_after: int = 30,
        refractory: int = 100,
        fatigue: float = 0.5,
        fatigue_halflife: int = 1000,
        confirm: int = 0,
        source: str = "detector:ensemble",
        likelihood: dict | bool = False,
        likelihood_gate: float = 0.999,
        likelihood_alone: float = 1.0 - 1e-8,
    ) -> None:
        if not 0.0 <= off < on <= 1.0:
            raise InvalidInputError("need 0 <= off < on <= 1", field="on")
        if not isinstance(likelihood, dict | bool):
            raise InvalidInputError("likelihood must be true, false or an object of parameters", field="likelihood")
        if not 0.0 <= likelihood_gate <= likelihood_alone <= 1.0:
            raise InvalidInputError("need 0 <= likelihood_gate <= likelihood_alone <= 1", field="likelihood_gate")
        self.on = on
        self.off = off
        self.clear_after = clear_after
        self.refractory = refractory
        self.since_firing = refractory
        self.fatigue = fatigue
        self.confirm = confirm
        self.pending = -1
        self.fatigue_halflife = fatigue_halflife
        self.recent = 0.0
        self._decay = 0.5 ** (1.0 / fatigue_halflife) if fatigue_halflife > 0 else 0.0
        self.source = source
        self.active = False
        self.below = 0
        self.peak = 0.0
        self.opened_at = 0.0
        self.likelihood = likelihood
        self.likelihood_gate = likelihood_gate
        self.likelihood_alone = likelihood_alone
        self._likelihood = (
            None
            if likelihood is False
            else AnomalyLikelihood(**(likelihood if isinstance(likelihood, dict) else {}))
        )

    def state_dict(self) -> dict:
        state: dict[str, Any] = {
            "active": self.active,
            "below": self.below,
            "peak": self.peak,
            "opened_at": self.opened_at,
            "since_firing": self.since_firing,
            "recent": self.recent,
            "pending": self.pending,
        }
        if self._likelihood is not None:
            state["likelihood"] = self._likelihood.state_dict()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        self.active, self.below = bool(state["active"]), int(state["below"])
        self.peak, self.opened_at = float(state["peak"]), float(state["opened_at"])
        self.since_firing = int(state.get("since_firing", self.refractory))
        self.recent = float(state.get("recent", 0.0))
        self.pending = int(state.get("pending", -1))
        if self._likelihood is not None and "likelihood" in state:
            # a checkpoint from before the likelihood (or with it off) leaves it learning afresh
            self._likelihood.load_state_dict(state["likelihood"])

    def step(self, p: float) -> str | None:
        """Advance with one probability; returns ``"firing"``, ``"resolved"`` or ``None``."""
        if self._likelihood is not None:
            p = self._gated(p, self._likelihood.update(p))
        self.since_firing += 1
        self.recent *= self._decay
        if self.active:
            return self._active_step(p)
        if self.pending >= 0:
            self.peak = p if p > self.peak else self.peak
            self.pending += 1
            return self._fire() if self.pending >= self.confirm else None
        on = self.on if self.recent < 1e-3 else 1.0 - (1.0 - self.on) * self.fatigue**self.recent
        if p >= on and self.since_firing > self.refractory:
            self.peak, self.pending = p, 0
            return self._fire() if self.confirm <= 0 else None
        return None

    def _gated(self, p: float, like: float | None) -> float:
        """The probability the state machine reads, given the likelihood of the recent surprise."""
        if like is None:  # still learning the series
            return p
        if like >= self.likelihood_alone:
            return like if like > p else p
        return p if like >= self.likelihood_gate else 0.0

    def _fire(self) -> str:
        self.active, self.below, self.since_firing, self.pending = True, 0, 0, -1
        self.recent += 1.0
        return "firing"

    def _active_step(self, p: float) -> str | None:
        self.peak = p if p > self.peak else self.peak
        if p < self.off:
            self.below += 1
            if self.below >= self.clear_after:
                self.active = False
                return "resolved"
        else:
            self.below = 0
        return None

    def update(
        self,
        p: float,
        t: float,
        x: float,
        band: ExpectedBand | None,
        labels: Mapping[str, str] | None = None,
        service: str = "",
        extra: Mapping[str, float] | None = None,
    ) -> Signal | None:
        """Advance the state machine; return the Signal to emit, if any."""
        status = self.step(p)
        if status is None:
            return None
        return self.signal(status, p, t, x, band, labels or {}, service, extra or {})

    def signal(
        self,
        status: str,
        p: float,
        t: float,
        x: float,
        band: ExpectedBand | None,
        labels: Mapping[str, str],
        service: str,
        extra: Mapping[str, float],
    ) -> Signal:
        """The signal for a ``step`` that returned ``status`` (firing opens the episode at ``t``)."""
        if status == "firing":
            self.opened_at = t
        values = {"observed": x, "score": p, **extra}
        name = labels.get("__name__", "metric")
        text = f"{name} = {x:.6g} is anomalous (p={p:.4f})"
        if band is not None:
            values.update(expected=band[0], expected_low=band[1], expected_high=band[2])
            text = f"{name} = {x:.6g} outside expected [{band[1]:.6g}, {band[2]:.6g}] (p={p:.4f})"
        if status == "resolved":
            text = f"{name} back to normal after anomaly opened at {self.opened_at:.0f}"
        severity = Severity.ERROR if p >= 1.0 - (1.0 - self.on) / 100 else Severity.WARNING
        return Signal(
            time=t,
            source=self.source,
            kind=SignalKind.METRIC_ANOMALY,
            service=service,
            labels=dict(labels),
            severity=severity,
            text=text,
            values=values,
            status=status,
            evidence={
                "expected_band": list(band) if band else None,
                "observed": x,
                "probability": p,
                "peak_probability": self.peak,
                "episode_start": self.opened_at,
            },
        )
