"""Log anomalies as signals: a new template, a template rate off its seasonal baseline, an error surge.

Feed every mined line to ``LogAnomalyDetector.observe``; it returns the ``Signal``s (kind
``log_anomaly``) that the line or the bucket it closed gives rise to. Rates are judged per
bucket when the bucket closes (the first line past its end, or ``flush(now)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from opsloop.aiops.logs.baseline import SeasonalBaseline
from opsloop.aiops.logs.headers import is_error_level
from opsloop.aiops.logs.miner import Match
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["LogAnomalyConfig", "LogAnomalyDetector"]

_ERRORS = -1  # series key of a service's error-level lines


@dataclass(frozen=True, slots=True)
class LogAnomalyConfig:
    """Thresholds of the log anomaly detector.

    Attributes:
        bucket_seconds: width of the count buckets rates are judged on.
        warmup_seconds: after a service's first line, new templates are expected, not anomalous.
        min_history: buckets a series needs before its rate is judged.
        z_threshold: how many (Poisson-floored) deviations from the baseline count as departing.
        min_count: a rise must reach this many lines in a bucket to be reported.
        slot_seconds, season_slots: the seasonal slot (default: hour of the week).
        max_series: series tracked (templates plus one error series per service).
        late_seconds: a line dated more than this before the open bucket (a shipper's backlog after an
            outage, a Collector's retry queue) is not counted in rates: its own bucket was judged
            already, and counted in the open one it would read as a surge. Lines less late (a host
            whose clock lags its neighbours') count in the open bucket.
    """

    bucket_seconds: int = 300
    warmup_seconds: float = 3600.0
    min_history: int = 12
    z_threshold: float = 4.0
    min_count: int = 10
    slot_seconds: int = 3600
    season_slots: int = 168
    max_series: int = 50_000
    late_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.bucket_seconds < 1 or self.slot_seconds < 1 or self.season_slots < 1:
            raise InvalidInputError("bucket and slot sizes must be positive", field="bucket_seconds")
        if self.z_threshold <= 0:
            raise InvalidInputError("z_threshold must be positive", field="z_threshold")
        if not self.late_seconds >= 0:
            raise InvalidInputError("late_seconds must not be negative", field="late_seconds")


class LogAnomalyDetector:
    """Turns mined lines into ``log_anomaly`` signals.

    Args:
        config: thresholds (defaults suit 5-minute buckets and an hour-of-week season).
        source: the ``Signal.source`` prefix.
    """

    def __init__(self, config: LogAnomalyConfig | None = None, *, source: str = "detector:logs") -> None:
        self.config = config or LogAnomalyConfig()
        self.source = source
        self._bucket: int | None = None
        self._counts: dict[tuple[str, int], int] = {}
        self._series: dict[tuple[str, int], SeasonalBaseline] = {}
        self._texts: dict[int, str] = {}
        self._first_seen: dict[str, float] = {}
        self._firing: set[tuple[str, int]] = set()
        self.dropped_series = 0

    def observe(
        self, match: Match, *, time: float, level: str = "", template_text: str = "", message: str = ""
    ) -> list[Signal]:
        """Account for one mined line; returns the signals it (or the bucket it closed) raised."""
        signals = self.flush(time)
        service = match.service
        first = self._first_seen.get(service)
        if first is None:
            first = time
            if self._ensure((service, _ERRORS)):  # learn the zeros too, so a first surge stands out
                self._first_seen[service] = time
        for old in match.merged:
            self._fold((service, old), (service, match.template_id))
        if template_text:
            self._texts[match.template_id] = template_text
        if match.change == "created" and time - first >= self.config.warmup_seconds:
            signals.append(self._new_template(match, time, level, template_text, message))
        if self._bucket is not None and time < self._bucket - self.config.late_seconds:
            return signals  # late: its own bucket was judged already
        self._bump((service, match.template_id))
        if level and is_error_level(level):
            self._bump((service, _ERRORS))
        return signals

    def close_quiet(self) -> list[Signal]:
        """Judge the open bucket at once, when it holds lines and no more are coming (the caller saw none
        arrive for a bucket's width): else a surge just before every service stopped logging (a crash
        that took the whole system down) is judged only when the next line comes, if ever. The empty
        buckets after it are left to ``flush``, as before, when lines come again."""
        if self._bucket is None or not self._counts:
            return []
        return self.flush(self._bucket + self.config.bucket_seconds)

    def flush(self, now: float) -> list[Signal]:
        """Judge every bucket that ended before ``now``; returns their signals."""
        width = self.config.bucket_seconds
        current = int(now // width) * width
        if self._bucket is None:
            self._bucket = current
            return []
        signals: list[Signal] = []
        while self._bucket < current:
            signals.extend(self._close(self._bucket))
            self._bucket += width
            if self._bucket < current - width * self.config.season_slots:
                self._bucket = current - width  # a long silence: do not replay every empty bucket
        return signals

    # -- internals ----------------------------------------------------------------------
    def _fold(self, old: tuple[str, int], new: tuple[str, int]) -> None:
        """A merged template's history and open count continue in its survivor's series."""
        baseline = self._series.pop(old, None)
        if baseline is not None and self._ensure(new):
            self._series[new].absorb(baseline)
        count = self._counts.pop(old, 0)
        if count and new in self._series:
            self._counts[new] = self._counts.get(new, 0) + count
        self._firing.discard(old)
        self._texts.pop(old[1], None)

    def _ensure(self, key: tuple[str, int]) -> bool:
        if key not in self._series:
            if len(self._series) >= self.config.max_series:
                self.dropped_series += 1
                return False
            cfg = self.config
            self._series[key] = SeasonalBaseline(cfg.slot_seconds, cfg.season_slots, min_history=3)
        return True

    def _bump(self, key: tuple[str, int]) -> None:
        if self._ensure(key):
            self._counts[key] = self._counts.get(key, 0) + 1

    def _close(self, bucket: int) -> list[Signal]:
        counts, self._counts = self._counts, {}
        signals = []
        for key, baseline in self._series.items():
            observed = counts.get(key, 0)
            signal = self._judge(key, baseline, bucket, observed)
            if signal is not None:
                signals.append(signal)
            baseline.update(bucket, observed)
        return signals

    def _judge(
        self, key: tuple[str, int], baseline: SeasonalBaseline, bucket: int, observed: int
    ) -> Signal | None:
        cfg = self.config
        mean, std, _ = baseline.expected(bucket)
        if baseline.history < cfg.min_history:
            return None
        spread = math.sqrt(std * std + mean + 1.0)  # Poisson floor: counts are noisy when small
        z = (observed - mean) / spread
        rising = observed >= cfg.min_count and z >= cfg.z_threshold
        falling = mean >= cfg.min_count and z <= -cfg.z_threshold
        if rising or falling:
            self._firing.add(key)
            return self._rate_signal(key, bucket, observed, mean, spread, z, "firing")
        if key in self._firing:
            self._firing.discard(key)
            return self._rate_signal(key, bucket, observed, mean, spread, z, "resolved")
        return None

    def _rate_signal(
        self,
        key: tuple[str, int],
        bucket: int,
        observed: int,
        mean: float,
        spread: float,
        z: float,
        status: str,
    ) -> Signal:
        service, tid = key
        end = bucket + self.config.bucket_seconds
        values = {
            "observed": float(observed),
            "expected": mean,
            "expected_low": max(0.0, mean - self.config.z_threshold * spread),
            "expected_high": mean + self.config.z_threshold * spread,
            "score": z,
        }
        evidence: dict[str, Any] = {"bucket_start": bucket, "bucket_seconds": self.config.bucket_seconds}
        if tid == _ERRORS:
            severity = Severity.CRITICAL if z >= 2 * self.config.z_threshold else Severity.ERROR
            return Signal(
                time=end,
                source=f"{self.source}:errors",
                kind=SignalKind.LOG_ANOMALY,
                service=service,
                labels={"anomaly": "error_surge"},
                severity=severity,
                status=status,
                values=values,
                text=f"{service or 'unknown service'}: {observed} error lines in {self.config.bucket_seconds}s, "
                f"expected about {mean:.1f}",
                evidence=evidence,
            )
        direction = "up" if z > 0 else "down"
        text = self._texts.get(tid, "")
        evidence.update({"template_id": tid, "template": text})
        return Signal(
            time=end,
            source=f"{self.source}:rate",
            kind=SignalKind.LOG_ANOMALY,
            service=service,
            labels={"anomaly": "template_rate", "template_id": str(tid)},
            severity=Severity.WARNING,
            status=status,
            values=values,
            evidence=evidence,
            text=f"template {tid} rate {direction}: {observed} lines vs about {mean:.1f} expected: {text[:120]}",
        )

    def _new_template(self, match: Match, time: float, level: str, text: str, message: str) -> Signal:
        severity = Severity.ERROR if level and is_error_level(level) else Severity.WARNING
        return Signal(
            time=time,
            source=f"{self.source}:new_template",
            kind=SignalKind.LOG_ANOMALY,
            service=match.service,
            labels={"anomaly": "new_template", "template_id": str(match.template_id)},
            severity=severity,
            text=f"new log template for {match.service or 'unknown service'}: {text[:160]}",
            values={"score": 1.0},
            evidence={
                "template_id": match.template_id,
                "template": text,
                "example": message[:512],
                "level": level,
            },
        )
