"""Run detectors continuously on ingested metrics, one detector per series, chosen by label matchers.

Ingestion (remote_write, OTLP, Prometheus pull) feeds points ``(labels, t, value)`` to
``MetricWatch.observe``; the first ``WatchRule`` whose selector matches the series' labels decides
its detector, alerting thresholds and optional predictive alert. Every series costs a fixed amount
of work per point and a bounded amount of memory; past ``max_series`` the least recently updated
series is dropped (and relearns if it comes back).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.aiops.detection.forecast import SeasonalTrendForecaster, ThresholdPredictor
from opsloop.core.detectors import AnomalyDetector, from_config
from opsloop.core.signals import Signal
from opsloop.errors import InvalidInputError

__all__ = ["LabelMatcher", "MetricWatch", "WatchRule", "parse_selector"]

_DEFAULT_DETECTOR = {"class": "opsloop.aiops.detection.ensemble.UnivariateEnsemble", "params": {}}
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class LabelMatcher:
    """One Prometheus-style label matcher: ``=``, ``!=``, ``=~`` (full match) or ``!~``."""

    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit


def parse_selector(selector: str) -> list[LabelMatcher]:
    """Parse ``metric{label="v", other=~"re.*"}`` (either part optional) into matchers."""
    text = selector.strip()
    name, _, rest = text.partition("{")
    matchers = [LabelMatcher("__name__", "=", name.strip())] if name.strip() else []
    if rest:
        if not rest.rstrip().endswith("}"):
            raise InvalidInputError(f"unbalanced braces in selector {selector!r}", field="selector")
        body, pos = rest.rstrip()[:-1], 0
        while pos < len(body.strip()):
            m = _MATCHER.match(body, pos)
            if not m:
                raise InvalidInputError(f"cannot parse matcher at {body[pos:]!r}", field="selector")
            value = m.group(3).encode().decode("unicode_escape")
            if m.group(2) in ("=~", "!~"):
                re.compile(value)
            matchers.append(LabelMatcher(m.group(1), m.group(2), value))
            pos = m.end()
    return matchers


@dataclass
class WatchRule:
    """Which series to watch and how.

    Attributes:
        name: rule name (shown in signals as the ``rule`` label).
        selector: PromQL-style series selector, e.g. ``node_filesystem_avail_bytes{mountpoint="/"}``.
        detector: detector configuration (``Estimator.config()`` form); the univariate ensemble by default.
        alerter: ``HysteresisAlerter`` parameters.
        predict: ``ThresholdPredictor`` parameters (``threshold``, ``horizon`` seconds, ``above``…)
            to also forecast the series and warn before it crosses; ``None`` for no forecast.
        forecaster: ``SeasonalTrendForecaster`` parameters.
        predict_every: forecast every this many points (bounds the forecasting cost).
    """

    name: str
    selector: str
    detector: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_DETECTOR))
    alerter: dict[str, Any] = field(default_factory=dict)
    predict: dict[str, Any] | None = None
    forecaster: dict[str, Any] = field(default_factory=dict)
    predict_every: int = 10

    def __post_init__(self) -> None:
        self.matchers = parse_selector(self.selector)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


class _Series:
    __slots__ = ("rule", "detector", "alerter", "forecaster", "predictor", "points")

    def __init__(self, rule: WatchRule) -> None:
        self.rule = rule
        det = from_config(rule.detector)
        if not isinstance(det, AnomalyDetector):
            raise InvalidInputError(f"rule {rule.name!r}: not an anomaly detector", field="detector")
        self.detector = det
        self.alerter = HysteresisAlerter(**rule.alerter)
        self.forecaster = SeasonalTrendForecaster(**rule.forecaster) if rule.predict else None
        self.predictor = ThresholdPredictor(**rule.predict) if rule.predict else None
        self.points = 0


def _service(labels: Mapping[str, str]) -> str:
    return labels.get("service") or labels.get("service_name") or labels.get("job") or ""


class MetricWatch:
    """Per-series detector registry fed with ingested points; returns the signals they raise.

    Args:
        rules: watch rules, first match wins; series matching no rule are ignored.
        max_series: most series kept at once (least recently updated ones are evicted).
    """

    def __init__(self, rules: Iterable[WatchRule], *, max_series: int = 10_000) -> None:
        self.rules = list(rules)
        self.max_series = max_series
        self._series: OrderedDict[tuple[tuple[str, str], ...], _Series] = OrderedDict()
        self._unmatched: set[tuple[tuple[str, str], ...]] = set()

    def __len__(self) -> int:
        return len(self._series)

    def _lookup(self, labels: Mapping[str, str]) -> _Series | None:
        key = tuple(sorted(labels.items()))
        s = self._series.get(key)
        if s is not None:
            self._series.move_to_end(key)
            return s
        if key in self._unmatched:
            return None
        rule = next((r for r in self.rules if r.matches(labels)), None)
        if rule is None:
            if len(self._unmatched) < 4 * self.max_series:
                self._unmatched.add(key)
            return None
        s = self._series[key] = _Series(rule)
        if len(self._series) > self.max_series:
            self._series.popitem(last=False)
        return s

    def observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
        """Score then learn one point of one series; return the signals it raises (usually none)."""
        s = self._lookup(labels)
        if s is None:
            return []
        try:
            x = float(value)
        except (TypeError, ValueError):
            return []
        p = s.detector.score_one(x, t)
        s.detector.learn_one(x, t)
        s.points += 1
        out: list[Signal] = []
        status = s.alerter.step(p)
        sig = None
        if status is not None:  # evidence is gathered only when a signal is due
            parts = getattr(s.detector, "parts", None)  # per-component probabilities, if any
            extra = {f"p_{k}": v for k, v in parts.items()} if isinstance(parts, dict) else {}
            band = s.detector.expected_band()
            sig = s.alerter.signal(status, p, t, x, band, labels, _service(labels), extra)
        if sig is not None:
            sig.labels.setdefault("rule", s.rule.name)
            out.append(sig)
        if s.forecaster is not None and s.predictor is not None:
            s.forecaster.learn_one(x, t)
            if s.points % s.rule.predict_every == 0:
                pred = s.predictor.check(s.forecaster, t, labels, _service(labels))
                if pred is not None:
                    pred.labels.setdefault("rule", s.rule.name)
                    out.append(pred)
        return out

    def observe_many(self, points: Iterable[tuple[Mapping[str, str], float, float]]) -> list[Signal]:
        """``observe`` for a batch of ``(labels, t, value)`` points, in order."""
        out: list[Signal] = []
        for labels, t, value in points:
            out.extend(self.observe(labels, t, value))
        return out

    def series(self) -> list[dict[str, str]]:
        """Labels of the series currently watched."""
        return [dict(k) for k in self._series]

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint of every watched series (JSON-serialisable); rules are not included."""
        out = []
        for key, s in self._series.items():
            out.append(
                {
                    "labels": [list(kv) for kv in key],
                    "rule": s.rule.name,
                    "points": s.points,
                    "detector": s.detector.state_dict(),
                    "alerter": s.alerter.state_dict(),
                    "forecaster": s.forecaster.state_dict() if s.forecaster is not None else None,
                    "predictor": [s.predictor.active, s.predictor.quiet] if s.predictor is not None else None,
                }
            )
        return {"series": out}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore series saved by ``state_dict``; series whose rule no longer exists are dropped."""
        rules = {r.name: r for r in self.rules}
        self._series.clear()
        self._unmatched.clear()
        for item in state["series"]:
            rule = rules.get(item["rule"])
            if rule is None:
                continue
            s = _Series(rule)
            s.points = int(item["points"])
            s.detector.load_state_dict(item["detector"])
            s.alerter.load_state_dict(item["alerter"])
            if s.forecaster is not None and item["forecaster"] is not None:
                s.forecaster.load_state_dict(item["forecaster"])
            if s.predictor is not None and item["predictor"] is not None:
                s.predictor.active, s.predictor.quiet = bool(item["predictor"][0]), int(item["predictor"][1])
            self._series[tuple((k, v) for k, v in item["labels"])] = s
