"""Run detectors continuously on ingested metrics, one detector per series, chosen by label matchers.

Ingestion (remote_write, OTLP, Prometheus pull) feeds points ``(labels, t, value)`` to
``MetricWatch.observe``; the first ``WatchRule`` whose selector matches the series' labels decides
its detector, alerting thresholds and optional predictive alert. Every series costs a fixed amount
of work per point and a bounded amount of memory; past ``max_series`` the least recently updated
series is dropped (and relearns if it comes back).

Series resumed from checkpoints (``restore``) are built lazily, on their next point: until then a
series is *pending*, held as its checkpoint, whose learned part is one JSON string (``learned``) that
is parsed only then. A server with many checkpointed series starts without parsing or building them,
and a pending series costs no more to count, checkpoint, adopt or evict than a built one. ``warm`` builds
pending series ahead of their points, a bounded slice at a time (the pipeline's tick), so that ingestion
rarely pays for it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import orjson

from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.aiops.detection.forecast import SeasonalTrendForecaster, ThresholdPredictor
from opsloop.aiops.detection.ledger import ChangeLedger, adopt_streams, signature
from opsloop.aiops.detection.pending import Pending, evict_past, resume_pending, warm_pending
from opsloop.aiops.ingestion.normalise import service_of
from opsloop.core.detectors import AnomalyDetector, from_config
from opsloop.core.signals import Signal
from opsloop.errors import InvalidInputError

__all__ = ["LabelMatcher", "MetricWatch", "WatchRule", "build_part", "build_rules", "parse_selector", "rehearsal"]

log = logging.getLogger("opsloop.aiops.detection")
_T = TypeVar("_T")
_REHEARSAL_POINTS = 300  # past the forecaster's first period detection (256 points)
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
        if not isinstance(self.name, str) or not self.name or len(self.name) > 200:
            raise InvalidInputError("a watch rule needs a 'name' (a string of at most 200 characters)", field="name")
        if not isinstance(self.selector, str):
            raise InvalidInputError(f"watch rule {self.name!r}: 'selector' must be a string", field="selector")
        self.matchers = parse_selector(self.selector)
        for name in ("detector", "alerter", "forecaster") + (("predict",) if self.predict is not None else ()):
            if not isinstance(getattr(self, name), Mapping):
                raise InvalidInputError(f"watch rule {self.name!r}: '{name}' must be an object", field=name)
        if isinstance(self.predict_every, bool) or not isinstance(self.predict_every, int) or self.predict_every < 1:
            raise InvalidInputError(f"watch rule {self.name!r}: 'predict_every' must be a positive integer",
                                    field="predict_every")
        _rehearse(self)  # a bad parameter fails here, when the rule is set, not when a point arrives

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @cached_property
    def signature(self) -> str:
        """A digest of the rule's definition (checkpoints are restored only under the same one); read for
        every checkpointed series, so computed once: a rule is not changed after it is built."""
        return signature({k: getattr(self, k) for k in ("name", "selector", "detector", "alerter", "predict",
                                                         "forecaster", "predict_every")})


def build_rules(documents: Iterable[Any], *, strict: bool = True, kind: Callable[..., Any] = WatchRule,
                key: str = "watch_rules", left_out: list[str] | None = None) -> list[Any]:
    """Rules (``WatchRule`` or another ``kind``) from their JSON documents under configuration ``key``.
    ``strict``: a bad one is a 400 naming it; otherwise (rules stored by an earlier version, read at start)
    it is logged and left out (its error appended to ``left_out``), and the others still run."""
    rules: list[Any] = []
    left_out = [] if left_out is None else left_out
    for i, doc in enumerate(documents):
        try:
            if not isinstance(doc, Mapping):
                raise InvalidInputError(f"{key}[{i}] must be an object", field=key)
            rule = kind(**doc)
            if any(r.name == rule.name for r in rules):  # checkpoints and signals name a rule by its name
                raise InvalidInputError(f"{key}[{i}]: a rule named {rule.name!r} comes before it", field="name")
            rules.append(rule)
        except TypeError as exc:  # a missing or unknown key
            if strict:
                raise InvalidInputError(f"bad {key}[{i}]: {exc}", field=key) from None
            log.error("stored %s[%d] is left out: %s", key, i, exc)
            left_out.append(f"{key}[{i}]: {exc}")
        except InvalidInputError as exc:
            if strict:
                raise
            log.error("stored %s[%d] is left out: %s", key, i, exc.message)
            left_out.append(f"{key}[{i}]: {exc.message}")
    return rules


class _Series:
    __slots__ = ("rule", "detector", "alerter", "forecaster", "predictor", "points")

    def __init__(self, rule: WatchRule) -> None:
        self.rule = rule
        det = build_part(rule.name, "detector", lambda: from_config(rule.detector))
        if not isinstance(det, AnomalyDetector):
            raise InvalidInputError(f"rule {rule.name!r}: not an anomaly detector", field="detector")
        self.detector = det
        self.alerter = build_part(rule.name, "alerter", lambda: HysteresisAlerter(**rule.alerter))
        predict = rule.predict
        self.forecaster = (build_part(rule.name, "forecaster", lambda: SeasonalTrendForecaster(**rule.forecaster))
                           if predict else None)
        self.predictor = build_part(rule.name, "predict", lambda: ThresholdPredictor(**predict)) if predict else None
        self.points = 0


def build_part(rule: str, name: str, build: Callable[[], _T]) -> _T:
    """Build one part (detector, alerter…) of rule ``rule``; a parameter it refuses is a 400 naming that part."""
    try:
        return build()
    except InvalidInputError as exc:
        where = f"{name}.{exc.field}" if exc.field and exc.field != name else name
        raise InvalidInputError(f"rule {rule!r}: {name}: {exc.message}", field=where) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInputError(f"rule {rule!r}: bad {name} parameters: {exc}", field=name) from None


@contextmanager
def rehearsal(what: str, field: str) -> Iterator[None]:
    """Around a rule's test stream: whatever its detector raises on these parameters is a 400 on ``field``."""
    try:
        yield
    except InvalidInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a detector raises on these parameters
        raise InvalidInputError(f"{what} fails on a test stream: {type(exc).__name__}: {exc}", field=field) from None


def _rehearse(rule: WatchRule) -> None:
    """Build the rule's series and run a short stream through it (a level, a spike, a climb), so that
    parameters that are only read once points flow (a string where a number belongs) fail now."""
    series = _Series(rule)
    labels = {"__name__": "rehearsal"}
    with rehearsal(f"watch rule {rule.name!r}", "watch_rules"):
        for i in range(2 * _REHEARSAL_POINTS):
            value = 10.0 + (i % 7) + (100.0 if i == _REHEARSAL_POINTS else 0.0) + max(0, i - _REHEARSAL_POINTS)
            _step(series, labels, 60.0 * i, value)


class MetricWatch:
    """Per-series detector registry fed with ingested points; returns the signals they raise.

    Args:
        rules: watch rules, first match wins; series matching no rule are ignored.
        max_series: most series kept at once (least recently updated ones are evicted).
    """

    def __init__(self, rules: Iterable[WatchRule], *, max_series: int = 10_000, contain_errors: bool = True) -> None:
        self.rules = list(rules)
        self.max_series = max_series
        self.contain_errors = contain_errors
        self.failed: dict[str, str] = {}  # rule name -> the error that stopped its series
        self._series: OrderedDict[_Key, _Series | Pending[WatchRule]] = OrderedDict()  # least recently updated first
        self._unbuilt: dict[_Key, None] = {}  # the pending ones, in the same order (``warm`` takes the last)
        self._unmatched: set[_Key] = set()
        self._ledger: ChangeLedger[_Key] = ChangeLedger()  # what changed since the last ``take_changes``

    def __len__(self) -> int:
        return len(self._series)

    def _lookup(self, labels: Mapping[str, str]) -> _Series | None:
        key = tuple(sorted(labels.items()))
        s = self._series.get(key)
        if isinstance(s, Pending):
            s = self._resume(key, s)
        if s is not None:
            self._series.move_to_end(key)
            self._ledger.changed[key] = None
            return s
        if key in self._unmatched:
            return None
        rule = next((r for r in self.rules if r.matches(labels)), None)
        if rule is None:
            if len(self._unmatched) < 4 * self.max_series:
                self._unmatched.add(key)
            return None
        s = self._series[key] = _Series(rule)
        self._ledger.added(key)
        self._evict()
        return s

    def _evict(self) -> None:
        """Drop the least recently updated series past ``max_series`` (pending ones unbuilt)."""
        evict_past(self._series, self._unbuilt, self._ledger, self.max_series)

    def _resume(self, key: _Key, pending: Pending[WatchRule]) -> _Series | None:
        """Build a pending series from its checkpoint (see ``resume_pending``)."""
        return resume_pending(self._series, self._unbuilt, self._ledger, key, pending.rule.name,
                              lambda: _series_from_state(pending.rule, pending.checkpoint), "series")

    def warm(self, limit: int | None = None, budget_s: float | None = None) -> bool:
        """Build pending series ahead of their next point, the most recently updated first: at most
        ``limit`` of them, and (when given) until ``budget_s`` seconds have passed, one at least. A series
        is built exactly as its next point would have built it (one whose checkpoint does not load is
        forgotten, see ``restore``); built or pending, it scores, counts and checkpoints the same.
        Returns whether pending series are left."""
        return warm_pending(self._series, self._unbuilt, self._resume, limit, budget_s)

    def observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
        """Score then learn one point of one series; return the signals it raises (usually none).

        A series whose detector fails is stopped (logged once per rule, listed in ``failed``) and the
        point is dropped from detection only: a bad rule never fails the ingestion of other senders."""
        if not self.contain_errors:
            return self._observe(labels, t, value)
        try:
            return self._observe(labels, t, value)
        except Exception as exc:  # noqa: BLE001 - contained: see the docstring
            self._stop(labels, exc)
            return []

    def _stop(self, labels: Mapping[str, str], exc: Exception) -> None:
        key = tuple(sorted(labels.items()))
        s = self._series.pop(key, None)
        self._unbuilt.pop(key, None)
        self._unmatched.add(key)
        self._ledger.dropped(key)
        rule = s.rule.name if s is not None else next((r.name for r in self.rules if r.matches(labels)), "?")
        if rule not in self.failed:
            log.error("watch rule %r stopped watching %s: %s", rule, dict(labels), exc, exc_info=exc)
        self.failed[rule] = f"{type(exc).__name__}: {exc}"

    def _observe(self, labels: Mapping[str, str], t: float, value: float) -> list[Signal]:
        s = self._lookup(labels)
        if s is None:
            return []
        try:
            x = float(value)
        except (TypeError, ValueError):
            return []
        return _step(s, labels, t, x)

    def observe_many(self, points: Iterable[tuple[Mapping[str, str], float, float]]) -> list[Signal]:
        """``observe`` for a batch of ``(labels, t, value)`` points, in order."""
        out: list[Signal] = []
        for labels, t, value in points:
            out.extend(self.observe(labels, t, value))
        return out

    def series(self) -> list[dict[str, str]]:
        """Labels of the series currently watched (pending ones included)."""
        return [dict(k) for k in self._series]

    def status(self) -> list[dict[str, Any]]:
        """Each rule with the number of series it watches (pending ones included) and the error that
        stopped one, if any."""
        counts = Counter(s.rule.name for s in self._series.values())
        return [{"name": r.name, "series": counts.get(r.name, 0), "failed": self.failed.get(r.name)}
                for r in self.rules]

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint of every watched series (JSON-serialisable; a pending one's as it was restored);
        rules are not included."""
        return {"series": [_checkpoint(key, s) for key, s in self._series.items()]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore series saved by ``state_dict``; series whose rule no longer exists are dropped."""
        self._series.clear()
        self._unbuilt.clear()
        self._unmatched.clear()
        self.restore(state["series"])

    def restore(self, items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Add series from their checkpoints (``state_dict``'s items), pending: each is built on its
        next point or by ``warm``, whichever comes first, so a restore costs little more than reading
        its labels. Items come least recently updated first (they are kept in that order).

        Returns the ones left out at once (as given, read no further): their rule is gone or was
        redefined since (a ``signature`` that differs), or their labels do not read. The rest of a
        checkpoint is read when its series is built: one that does not load then is logged ("checkpoint
        of a … series not restored") and the series starts afresh from that point, as a left-out one
        would; its checkpoint is overwritten at the next ``take_changes`` (or deleted, the series gone,
        when no rule takes it any more). A pending series' checkpoint is given back unchanged by
        ``state_dict`` (one of the earlier form, without ``learned``, in today's) and never by
        ``take_changes`` (it learned nothing). Past ``max_series``, the series restored first are dropped
        as the least recently updated ones are."""
        rules = {r.name: r for r in self.rules}
        left_out: list[Mapping[str, Any]] = []
        for item in items:
            rule = rules.get(item.get("rule", ""))
            if rule is None or item.get("signature", rule.signature) != rule.signature:
                left_out.append(item)
                continue
            try:
                key = tuple((str(k), str(v)) for k, v in item["labels"])
                pending = Pending.of(rule, item, _LEARNED)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("checkpoint of a %r series not restored: %s", rule.name, exc)
                left_out.append(item)
                continue
            self._series[key] = pending
            self._unbuilt[key] = None
            self._ledger.gone.discard(key)
        self._evict()
        return left_out

    def has_changes(self) -> bool:
        """Whether a ``take_changes`` would return anything."""
        return bool(self._ledger.changed or self._ledger.gone)

    def take_changes(self, limit: int | None = None) -> tuple[list[dict[str, Any]], list[list[list[str]]]]:
        """Checkpoints of the series that learned since the last call (at most ``limit``; the others are
        left for the next call), and the labels of series dropped since: what a store of per-series
        checkpoints needs to be brought up to date."""
        changed, gone = self._ledger.take(limit)
        return ([_checkpoint(key, self._series[key]) for key in changed if key in self._series],
                [[list(kv) for kv in key] for key in gone])

    def adopt(self, previous: MetricWatch) -> None:
        """Take over ``previous``' series whose rule is still defined the same way (a configuration change
        keeps what unchanged rules learned, pending series as they are); the others count as dropped."""
        adopt_streams(self.rules, previous._series, previous._ledger, self._series, self._ledger)
        self._unbuilt.update((key, None) for key in previous._unbuilt if isinstance(self._series.get(key), Pending))


_Key = tuple[tuple[str, str], ...]
_LEARNED = ("detector", "alerter", "forecaster", "predictor")  # the keys of a checkpoint's ``learned``


def _checkpoint(key: _Key, s: _Series | Pending[WatchRule]) -> dict[str, Any]:
    return dict(s.checkpoint) if isinstance(s, Pending) else _series_state(key, s)


def _series_state(key: _Key, s: _Series) -> dict[str, Any]:
    """A series' checkpoint: what identifies it, then what it learned as one JSON string (``learned``),
    which a restore keeps unparsed until the series is built."""
    learned = {
        "detector": s.detector.state_dict(),
        "alerter": s.alerter.state_dict(),
        "forecaster": s.forecaster.state_dict() if s.forecaster is not None else None,
        "predictor": [s.predictor.active, s.predictor.quiet] if s.predictor is not None else None,
    }
    return {"labels": [list(kv) for kv in key], "rule": s.rule.name, "signature": s.rule.signature,
            "points": s.points, "learned": orjson.dumps(learned).decode()}


def _series_from_state(rule: WatchRule, item: Mapping[str, Any]) -> _Series:
    learned = orjson.loads(item["learned"])
    s = _Series(rule)
    s.points = int(item["points"])
    s.detector.load_state_dict(learned["detector"])
    s.alerter.load_state_dict(learned["alerter"])
    if s.forecaster is not None and learned["forecaster"] is not None:
        s.forecaster.load_state_dict(learned["forecaster"])
    if s.predictor is not None and learned["predictor"] is not None:
        s.predictor.active, s.predictor.quiet = bool(learned["predictor"][0]), int(learned["predictor"][1])
    return s


def _step(s: _Series, labels: Mapping[str, str], t: float, x: float) -> list[Signal]:
    """Score then learn one point of a series; the signals it raises."""
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
        sig = s.alerter.signal(status, p, t, x, band, labels, service_of(labels), extra)
    if sig is not None:
        sig.labels.setdefault("rule", s.rule.name)
        out.append(sig)
    if s.forecaster is not None and s.predictor is not None:
        s.forecaster.learn_one(x, t)
        if s.points % s.rule.predict_every == 0:
            pred = s.predictor.check(s.forecaster, t, labels, service_of(labels))
            if pred is not None:
                pred.labels.setdefault("rule", s.rule.name)
                out.append(pred)
    return out
