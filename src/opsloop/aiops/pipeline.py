"""The AIOps pipeline: decoded payloads in, stored signals and incidents out, with the log miner and
the metric detectors wired in.

``Pipeline`` owns one ``IncidentEngine`` (storage and correlation), the operator ``Operations``, the
notification ``Dispatcher``, the per-sender ``RateLimiter``, and, when their packages are present, a
``LogIngestor`` (log records → templates → ``log_anomaly`` signals) and a ``MetricWatch`` (metric
points → ``metric_anomaly``/``prediction`` signals), plus the ``RunbookCatalog`` (incident changes →
queued runbook runs, in the change's transaction). Everything CPU-bound runs under one lock, so the
in-memory correlation state sees signals one batch at a time.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import orjson

from opsloop.aiops.correlation.grouping import GroupingConfig
from opsloop.aiops.correlation.inhibition import InhibitRule
from opsloop.aiops.correlation.silences import Silence, parse_matchers, silence_matchers
from opsloop.aiops.incidents.engine import EngineConfig, IncidentEngine, IngestReport
from opsloop.aiops.incidents.notifications import Dispatcher, Router, Target
from opsloop.aiops.incidents.operations import Operations
from opsloop.aiops.incidents.rootcause import RootCauseConfig, rank_root_causes
from opsloop.aiops.incidents.similar import IncidentProfile, rank_similar
from opsloop.aiops.ingestion.alertmanager import ALERT_API_SOURCE
from opsloop.aiops.ingestion.call_graph import CallGraph
from opsloop.aiops.ingestion.expiry import AlertExpiry
from opsloop.aiops.ingestion.metric_rules import ThresholdRule, ThresholdWatch
from opsloop.aiops.ingestion.normalise import Decoded, Limits, MetricPoint, service_of
from opsloop.aiops.ingestion.otlp_traces import DecodedSpans
from opsloop.aiops.ingestion.ratelimit import RateLimiter
from opsloop.aiops.ingestion.span_errors import SpanErrorCounts
from opsloop.aiops.runbooks import RunbookCatalog, parse_runbooks
from opsloop.core.naming import named_once
from opsloop.core.signals import Severity, Signal, SignalKind
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.runbooks import SqlRunbookStore

if TYPE_CHECKING:  # imported on first use at run time (see _build_watch and _logs)
    from opsloop.aiops.detection import MetricWatch, ServiceWatch
    from opsloop.aiops.logs import LogIngestor

__all__ = ["Pipeline"]

_LAST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z, the last time RFC 3339 (and so Alertmanager) can write


def _silence_window(doc: dict[str, Any], now: float) -> tuple[float, float]:
    """A silence's start and end from ``starts_at`` and ``ends_at`` or ``duration_s``, each by year 9999."""
    from opsloop.aiops.ingestion.normalise import parse_time

    starts = parse_time(doc["starts_at"], "starts_at") if doc.get("starts_at") is not None else now
    if doc.get("ends_at") is not None:
        ends, field = parse_time(doc["ends_at"], "ends_at"), "ends_at"
    elif doc.get("duration_s") is not None:
        ends, field = starts + float(doc["duration_s"]), "duration_s"
    else:
        raise InvalidInputError("give 'ends_at' or 'duration_s'", field="ends_at")
    for name, t in (("starts_at", starts), (field, ends)):
        if not t <= _LAST_TIME:
            raise InvalidInputError(f"{name}: past 9999-12-31T23:59:59Z, the latest time a silence can have",
                                    field=name)
    if ends <= starts:
        raise InvalidInputError("ends_at must be after starts_at", field="ends_at")
    if ends <= now:  # as Alertmanager refuses one: it would be stored ended, and mute nothing
        raise InvalidInputError(f"{field} must end the silence in the future", field=field)
    return starts, ends

log = logging.getLogger("opsloop.aiops")

CHECKPOINT_SLICE = 500  # detector checkpoints taken per tick (about half a second of state under the lock)
# Restored metric series are built ahead of their points (about 0.5 ms each) for up to WARM_TICK_S a tick,
# WARM_SLICE_S at a time under the lock: 10,000 of them within a minute of start, ingestion waiting little
WARM_TICK_S, WARM_SLICE_S, WARM_PAUSE_S = 1.0, 0.05, 0.002
PRUNE_SLICE = 10_000  # signals of a kind deleted per tick (tens of milliseconds of the write lock)
_KEPT_LONGER = [k for k in SignalKind if k != SignalKind.LOG]  # ingestion.signal_retention_days applies to
TRACED_SAVE_S = 60.0  # call counts are saved this often; a change of the traced edges at the next tick
CONFIG_KEYS = ("inhibit_rules", "notification_targets", "watch_rules", "service_rules", "metric_rules",
               "prometheus_queries", "runbooks")


class Pipeline:
    def __init__(
        self,
        stores: AiopsStores,
        *,
        limits: Limits | None = None,
        rate_per_sender: float = 50_000.0,
        config: EngineConfig | None = None,
        clock: Callable[[], float] = _time.time,
        mine_logs: bool = True,
        metric_history_s: float = 7 * 86400.0,
        detector_checkpoint_s: float = 60.0,
        call_graph: CallGraph | None = None,
        log_retention_s: float = 7 * 86400.0,
        signal_retention_s: float = 90 * 86400.0,
        notification_link: str | None = None,
        delivered_retention_s: float = 7 * 86400.0,
    ) -> None:
        self.stores = stores
        # service calls seen in spans (POST /v1/traces): the traced edges of the topology
        self.call_graph = call_graph or CallGraph()
        self._traced_saved: list[tuple[str, str]] = []  # the traced edges as last stored
        self._traced_saved_at = 0.0
        # spans and error spans per service per minute → metric points (the minute it starts in is a part)
        self.span_errors = SpanErrorCounts(started=clock())
        self.expiry = AlertExpiry()  # alerts of Alertmanager's API, firing until their end
        self.metric_history_s = metric_history_s
        self.detector_checkpoint_s = detector_checkpoint_s
        self._checkpointed_at = 0.0
        self._checkpoint_backlog = False  # the last checkpoint slice left changes for the next tick
        self._left_out: list[str] = []  # stored detection rules that no longer load (named at /aiops/detection)
        self._pruned_at = 0.0
        # how long log records, and other signals no longer needed as evidence, are kept (0: for ever)
        self.log_retention_s = log_retention_s
        self.signal_retention_s = signal_retention_s
        self._prune_backlog = False  # the last retention slice was full: more to delete at the next tick
        self.limits = limits or Limits()
        self.clock = clock
        self.router = Router(link_base=notification_link)
        self.engine = IncidentEngine(stores, config=config, router=self.router, clock=clock)
        self.ops = Operations(self.engine)
        self.dispatcher = Dispatcher(stores.ops, self.router, clock=clock, delivered_retention_s=delivered_retention_s)
        # Runbook runs are queued by the router, in the transaction of the incident change.
        self.runbooks = RunbookCatalog(SqlRunbookStore(stores.db), stores.incidents, clock=clock)
        self.router.listeners.append(self.runbooks.on_incident_event)
        self.limiter = RateLimiter(rate_per_sender)
        self.lock = threading.RLock()
        self.log_ingestor: LogIngestor | None = None
        # Where mined log templates persist (a TemplateStore with save_snapshot/load_snapshot); the
        # server passes the SQL one so templates are queryable and ids survive restarts.
        self.template_store: Any = None
        self.metric_watch: MetricWatch | None = None
        self.service_watch: ServiceWatch | None = None
        self.thresholds: ThresholdWatch | None = None
        self._mine_logs = mine_logs
        self._loaded = False
        self._saved_learned: list[list[Any]] = []
        self._learned_version = -1  # the topology's learned_version at the last tick
        self._snapshot_lines = -1  # the miner's line count at its last saved snapshot
        self._log_arrived_at: float | None = None  # when the last log line was mined (this process' clock)

    @classmethod
    def from_settings(cls, stores: AiopsStores, settings: Any) -> Pipeline:
        ing, tr = settings.ingestion, settings.traces
        calls = CallGraph(min_calls=tr.min_calls, expiry_s=tr.edge_expiry_days * 86400.0,
                          max_spans=tr.span_map_size, span_ttl_s=tr.span_map_ttl_s)
        proximity = settings.topology.time_proximity_s  # 0: off
        grouping = GroupingConfig(burst_window_s=proximity) if proximity else GroupingConfig(burst_weight=0.0)
        return cls(stores, limits=Limits.from_settings(ing), rate_per_sender=ing.rate_limit_per_sender,
                   config=EngineConfig(grouping=grouping),
                   metric_history_s=ing.metric_history_days * 86400.0,
                   detector_checkpoint_s=ing.detector_checkpoint_s, call_graph=calls,
                   log_retention_s=ing.log_retention_days * 86400.0,
                   signal_retention_s=ing.signal_retention_days * 86400.0,
                   notification_link=settings.notifications.link_base(settings.server),
                   delivered_retention_s=settings.notifications.delivered_retention_days * 86400.0)

    # --- state ----------------------------------------------------------------------------------------
    def load(self) -> None:
        """Restore configuration and correlation state from the store (idempotent)."""
        if self._loaded:  # every batch calls this: skip the lock once loaded
            return
        with self.lock:
            if self._loaded:
                return
            ops = self.stores.ops
            edges = ops.topology_edges()
            self.engine.topology.set_declared((e["source"], e["target"]) for e in edges if e["origin"] == "declared")
            self.call_graph.load((e["source"], e["target"], e["weight"], e["updated_at"])
                                 for e in edges if e["origin"] == "traces")
            self.call_graph.expire(self.clock())
            self._traced_saved = self.call_graph.active()
            self.engine.topology.set_traced(self._traced_saved)
            learned = ops.get_config("learned_topology", []) or []
            self.engine.topology.load_learned(tuple(x) for x in learned)
            now = self.clock()
            for silence in _readable(ops.silences(active_after=now)):
                self.engine.silences.put(silence)
            self.engine.inhibitor.set_rules(InhibitRule.from_dict(r) for r in ops.get_config("inhibit_rules", []))
            self.router.set_targets(Target.from_dict(t) for t in ops.get_config("notification_targets", []))
            self._build_watch(ops.get_config("watch_rules", []), strict=False)
            self._build_service_watch(ops.get_config("service_rules", []), strict=False)
            self._restore_detectors()
            self._build_thresholds(ops.get_config("metric_rules", []))
            if self.thresholds is not None:  # the alerts firing before the restart resolve when they should
                self.thresholds.restore(self.stores.signals.firing_rule_alerts())
            self.runbooks.set(parse_runbooks(ops.get_config("runbooks", [])))
            self.engine.load()
            self.expiry.restore(self.stores.signals.firing_alerts(ALERT_API_SOURCE), now)
            self._loaded = True

    def _build_watch(self, rules: list[dict[str, Any]], strict: bool = True) -> None:
        """Set the watch rules; series of rules defined as before keep what they learned."""
        previous = self.metric_watch
        if not rules:
            self.metric_watch = None
        else:
            from opsloop.aiops.detection.watch import MetricWatch, build_rules

            self.metric_watch = MetricWatch(build_rules(rules, strict=strict, left_out=self._left_out))
        self._carry_over(previous, self.metric_watch)

    def _build_service_watch(self, rules: list[dict[str, Any]], strict: bool = True) -> None:
        """Set the service rules; groups of rules defined as before keep what they learned."""
        previous = self.service_watch
        if not rules:
            self.service_watch = None
        else:
            from opsloop.aiops.detection.service_watch import ServiceRule, ServiceWatch
            from opsloop.aiops.detection.watch import build_rules

            self.service_watch = ServiceWatch(build_rules(rules, strict=strict, kind=ServiceRule, key="service_rules",
                                                          left_out=self._left_out))
        self._carry_over(previous, self.service_watch)

    def _carry_over(self, previous: Any, new: Any) -> None:
        """A new watch takes over what the previous one learned under unchanged rules; with no new watch,
        every checkpoint of the previous one is forgotten at once."""
        if previous is None:
            return
        if new is not None:
            new.adopt(previous)
            return
        nothing = type(previous)([])
        nothing.adopt(previous)  # every stream of the previous watch is gone
        self.stores.detector_state.save(*nothing.take_changes())

    def _restore_detectors(self) -> None:
        """Resume the metric detectors from their checkpoints; forget those no rule takes any more. A
        series is built from its checkpoint on its next point or by a tick (``warm_detectors``), so a
        start does not wait for every checkpointed series; one whose checkpoint then fails to load starts
        afresh."""
        saved = self.stores.detector_state.load()
        groups = [item for item in saved if item.get("kind") == "service"]
        series = [item for item in saved if item.get("kind") != "service"]
        left_out = self.metric_watch.restore(series) if self.metric_watch is not None else series
        left_out += self.service_watch.restore(groups) if self.service_watch is not None else groups
        if left_out:
            self.stores.detector_state.delete(left_out)

    def detection_status(self) -> dict[str, Any]:
        """The detection rules at work: series or groups watched per rule, errors, the last checkpoint."""
        with self.lock:
            return {"watch_rules": self.metric_watch.status() if self.metric_watch is not None else [],
                    "service_rules": self.service_watch.status() if self.service_watch is not None else [],
                    "left_out": list(self._left_out),
                    "checkpointed_at": self._checkpointed_at or None}

    def checkpoint_detectors(self, limit: int | None = None) -> bool:
        """Save the checkpoints of the watched series (and service groups) that learned since the last
        call, at most ``limit`` of each watch (the state is read under the pipeline lock, which ingestion
        waits for; it is written after). Returns whether changes were left for a next call."""
        taken = []
        with self.lock:
            self._checkpointed_at = self.clock()
            watches = [w for w in (self.metric_watch, self.service_watch) if w is not None]
            for watch in watches:
                taken.append(watch.take_changes(limit))
            left = any(w.has_changes() for w in watches)
        for changed, gone in taken:
            self.stores.detector_state.save(changed, gone)
        return left

    def warm_detectors(self, budget_s: float = WARM_TICK_S) -> bool:
        """Build the metric series, then service groups, restored pending (``warm``: the most recently updated
        first) for about ``budget_s``, ``WARM_SLICE_S`` at a time under the lock, pausing in between so
        that ingestion waiting for it goes first. Returns whether some are left for a next call."""
        deadline = _time.perf_counter() + budget_s
        while True:
            with self.lock:
                watches = (w for w in (self.metric_watch, self.service_watch) if w is not None)
                left = any(w.warm(budget_s=WARM_SLICE_S) for w in watches)  # series first, then service groups
            if not left or _time.perf_counter() >= deadline:
                return left
            _time.sleep(WARM_PAUSE_S)

    def _build_thresholds(self, rules: list[dict[str, Any]]) -> list[Signal]:
        """Set the threshold rules; rules named as before keep their series' state. Returns the alerts of
        the rules no longer there, resolved."""
        previous = self.thresholds
        self.thresholds = ThresholdWatch([ThresholdRule.from_dict(r) for r in rules]) if rules else None
        if previous is None:
            return []
        return (self.thresholds or ThresholdWatch([])).carry_over(previous)

    def _logs(self) -> Any:
        if self.log_ingestor is None and self._mine_logs:
            try:
                from opsloop.aiops.logs import LogIngestor
            except ImportError:  # the log intelligence package is optional
                self._mine_logs = False
                return None
            self.log_ingestor = LogIngestor(miner=self._miner())
        return self.log_ingestor

    def _miner(self) -> Any:
        from opsloop.aiops.logs import LogMiner

        store = self.template_store
        if store is None:
            return LogMiner()
        snapshot = store.load_snapshot() if hasattr(store, "load_snapshot") else None
        return LogMiner.restore(snapshot, store=store) if snapshot else LogMiner(store=store)

    def _close_quiet_logs(self, now: float) -> None:
        """When no log line came for a bucket's width, judge the lines of the open bucket now (a surge
        right before the logs stopped); its anomalies are ingested like any other."""
        ingestor, arrived = self.log_ingestor, self._log_arrived_at
        detector = ingestor.detector if ingestor is not None else None
        if detector is None or arrived is None or now - arrived < detector.config.bucket_seconds:
            return
        found = detector.close_quiet()
        if found:
            self._store(found, [], "logs")

    def persist_logs(self) -> None:
        """Write changed template counts and the miner's state to the template store."""
        ingestor = self.log_ingestor
        if ingestor is None or self.template_store is None:
            return
        miner = ingestor.miner
        miner.flush()
        # The snapshot is the miner's own state (the templates are the store's rows, written by ``flush``:
        # a snapshot holding them took seconds under the lock at a few thousand templates); an idle tick
        # (no line mined since) leaves it as saved.
        if hasattr(self.template_store, "save_snapshot") and miner.stats.lines != self._snapshot_lines:
            self.template_store.save_snapshot(miner.snapshot(templates=False))
            self._snapshot_lines = miner.stats.lines

    # --- ingestion --------------------------------------------------------------------------------------
    def admit(self, sender: str, items: int) -> None:
        """Charge a sender for ``items`` (raises ``RateLimitedError`` when over its allowance)."""
        self.limiter.charge(sender, items)

    def ingest(self, decoded: Decoded | Sequence[Signal], *, now: float | None = None) -> IngestReport:
        """Store and correlate a decoded batch; log records and metric points feed the miners/detectors."""
        if not isinstance(decoded, Decoded):
            decoded = Decoded(signals=list(decoded), items=len(decoded))
        self.load()
        with self.lock:
            report = self._store(list(decoded.signals), decoded.points, decoded.source or "metrics", now=now)
            if decoded.source == ALERT_API_SOURCE:
                self.expiry.note(decoded.signals)
            return report

    def _store(self, signals: list[Signal], points: list[MetricPoint], source: str, *, now: float | None = None,
               judged: Callable[[MetricPoint], bool] | None = None, additive: bool = False) -> IngestReport:
        """``ingest`` under the lock: ``points`` become their series' signals, the signals derived from
        those ``judged`` (all by default) by the detectors and threshold rules, and samples kept for
        charts; ``additive`` adds each sample to the one stored for its series and time (counts that
        several processes take of one interval) instead of replacing it."""
        series, fingerprints = _series(points, source)
        signals = signals + series
        if judged is None:
            derived = self._derive(signals, points, fingerprints)
        else:
            kept = [(p, fp) for p, fp in zip(points, fingerprints, strict=True) if judged(p)]
            derived = self._derive(signals, [p for p, _ in kept], [fp for _, fp in kept])
        report = self.engine.ingest(signals + derived, now=now)
        if points and self.metric_history_s > 0:  # every sample, for charts
            rows = [(fp, p.time, p.value) for fp, p in zip(fingerprints, points, strict=True)]
            (self.stores.metric_points.add if additive else self.stores.metric_points.append)(rows)
        return report

    def observe_spans(self, decoded: DecodedSpans) -> None:
        """Count the service calls a decoded trace export shows; new traced edges join the topology now
        (they are stored at the next tick)."""
        self.load()
        with self.lock:
            now = self.clock()
            self.span_errors.observe(decoded.spans, now)
            if self.call_graph.observe(decoded.spans, now):
                self.engine.topology.set_traced(self.call_graph.active())

    def flush_span_counts(self) -> None:
        """At shutdown: store the span counts of the minute under way as they stand; the next start (or
        another worker) adds its count of that minute to them. Not shown to the detectors (a part of a
        minute)."""
        with self.lock:
            points = self.span_errors.drain()
        self._ingest_span_counts(points, judge=False)

    def _ingest_span_counts(self, points: list[MetricPoint], *, judge: bool = True) -> None:
        """Span counts are this process's share of their minute, so their samples are added to the stored
        ones (other workers, or this server before a restart, counted spans of the same minute). This
        process's detectors and threshold rules judge the minutes it counted whole (its share, as for any
        sample sent to it), not a part of one, which would look like a drop in traffic."""
        if not points:
            return
        self.load()
        with self.lock:
            whole = self.span_errors.whole
            self._store([], points, "otlp", judged=lambda p: judge and whole(p.time), additive=True)

    def traced_edges(self) -> list[dict[str, Any]]:
        """The topology's edges learned from traces, with their calls and when last seen."""
        with self.lock:
            return self.call_graph.to_list()

    def _save_traced(self, now: float) -> None:
        """Store the counted calls when the traced edges changed, or every ``TRACED_SAVE_S`` as counts grow."""
        calls = self.call_graph
        if calls.expire(now):
            self.engine.topology.set_traced(calls.active())
        if not calls.dirty:
            return
        active = calls.active()
        if active == self._traced_saved and now - self._traced_saved_at < TRACED_SAVE_S:
            return
        with self.stores.db.write() as conn:
            self.stores.ops.replace_edges(conn, "traces", calls.rows())
        self._traced_saved, self._traced_saved_at = active, now

    def _mine(self, signals: list[Signal]) -> list[Signal]:
        """Feed the log records among ``signals`` to the template miner; the anomalies it raises."""
        out: list[Signal] = []
        miner = self._logs() if any(s.kind == SignalKind.LOG for s in signals) else None
        if miner is None:
            return out
        mined = False
        for s in signals:
            if s.kind == SignalKind.LOG and s.text:
                try:
                    # an error level the transport carried (OTLP severity, a Loki level label) counts
                    # towards error surges; a lower one leaves the line's own header level (a log
                    # through the events API is a warning unless it says otherwise)
                    level = s.severity.name if s.severity >= Severity.ERROR else None
                    out.extend(miner.ingest(s.text, service=s.service, time=s.time, level=level).signals)
                    mined = True
                except Exception:  # noqa: BLE001 - mining is best effort; the record is stored anyway
                    log.exception("log mining failed")
                    break
        if mined:  # once a batch, not a clock read per line
            self._log_arrived_at = self.clock()
        return out

    def _derive(self, signals: list[Signal], points: list[MetricPoint], fingerprints: list[str]) -> list[Signal]:
        out = self._mine(signals)
        if points and (self.thresholds is not None or self.metric_watch is not None):
            # Derived signals name their series, so evidence can be charted from the sample history.
            for p, fp in zip(points, fingerprints, strict=True):
                found: list[Signal] = []
                if self.thresholds is not None:
                    found.extend(self.thresholds.observe(p.labels, p.time, p.value))
                if self.metric_watch is not None:
                    found.extend(self.metric_watch.observe(p.labels, p.time, p.value))
                for sig in found:
                    sig.evidence["series"] = fp
                out.extend(found)
        if points and self.service_watch is not None:
            # A service's vector is built bucket by bucket: its points in time order (a batch holds series
            # after series). Its signals are about the service, not one series.
            for p in sorted(points, key=attrgetter("time")):
                out.extend(self.service_watch.observe(p.labels, p.time, p.value))
        return out

    # --- incidents --------------------------------------------------------------------------------------
    def incident_detail(self, incident_id: int, *, signal_limit: int = 1000) -> dict[str, Any]:
        inc = self.stores.incidents
        incident = inc.get(incident_id)
        signals = self.stores.signals.list(incident_id=incident_id, limit=signal_limit, ascending=True)
        timeline = inc.timeline(incident_id)
        for s in signals:
            timeline.append({"time": s["time"], "kind": "signal", "actor": s["source"],
                             "text": f"[{s['severity']}] {s['service'] or '-'}: {s['text']}",
                             "data": {"signal_id": s["id"], "fingerprint": s["fingerprint"], "status": s["status"],
                                      "count": s["count"], "kind": s["kind"]}})
            if s["status"] == "resolved" and s["resolved_at"] is not None:
                timeline.append({"time": s["resolved_at"], "kind": "signal_resolved", "actor": s["source"],
                                 "text": f"resolved: {s['service'] or '-'}: {s['text']}",
                                 "data": {"signal_id": s["id"], "fingerprint": s["fingerprint"]}})
        timeline.sort(key=lambda e: e["time"])
        incident["timeline"] = timeline
        incident["signals"] = signals
        grouped = [{"signal_id": s["id"], "time": s["time"], "service": s["service"], "text": s["text"][:200],
                    "reasons": s["grouping"]["reasons"], "score": s["grouping"]["score"]}
                   for s in signals if s.get("grouping")]
        incident["grouping_reasons"] = sorted(grouped + inc.reasons(incident_id), key=lambda g: g["time"])
        incident["similar"] = self.similar(incident, signals)
        incident["root_causes"] = self.root_causes(incident, signals)
        return incident

    def root_causes(self, incident: dict[str, Any], signals: list[dict[str, Any]],
                    config: RootCauseConfig | None = None) -> list[dict[str, Any]]:
        """The incident's probable root causes (``rank_root_causes``), with the changes (``event``
        signals of any service) from ``change_lookback_s`` before its first signal to its last."""
        cfg = config or RootCauseConfig()
        changes = self.stores.signals.list(kind="event", since=incident["first_signal_at"] - cfg.change_lookback_s,
                                           until=incident["last_signal_at"] + cfg.tolerance_s, limit=1000)
        with self.lock:  # the topology changes under ingestion
            causes = [c.to_dict() for c in rank_root_causes(signals, self.engine.topology, changes, cfg)]
        for cause in causes:
            cause["alerting_in_incident"] = None
            if not cause["signals"] and cause["change_id"] is None:
                self._alerting_elsewhere(cause, incident)
        return causes

    def _alerting_elsewhere(self, cause: dict[str, Any], incident: dict[str, Any]) -> None:
        """A candidate with no alert in the incident that alerts in another one from the incident's start
        to ``window_s`` after its last signal (its own rule waited longer): say which
        (``alerting_in_incident``)."""
        start, window = incident["first_signal_at"], self.engine.correlator.config.window_s
        found = [s for s in self.stores.signals.list(service=cause["service"], since=start,
                                                    until=incident["last_signal_at"] + window, limit=50,
                                                    ascending=True)
                 if s["incident_id"] is not None and s["incident_id"] != incident["id"] and s["kind"] != "event"]
        if found:
            first = found[0]
            cause["alerting_in_incident"] = first["incident_id"]
            cause["reasons"].append(f"alerting in incident {first['incident_id']} since "
                                    f"{first['time'] - start:.0f}s after this one started")

    def similar(self, incident: dict[str, Any], signals: list[dict[str, Any]] | None = None,
                k: int = 5) -> list[dict[str, Any]]:
        texts = [s["text"] for s in (signals or [])[:200]]
        target = IncidentProfile.of(incident, texts)
        candidates = [IncidentProfile.of(c) for c in self.stores.incidents.resolved_candidates(exclude=incident["id"])]
        return rank_similar(target, candidates, k=k)

    def act(self, incident_id: int, action: str, actor: str | None, text: str = "") -> dict[str, Any]:
        self.load()
        with self.lock:
            out = self.ops.act(incident_id, action, actor, text)
        self.dispatcher.wake.set()
        return out

    # --- configuration ------------------------------------------------------------------------------------
    def get_config(self, key: str) -> Any:
        """The stored document of ``key`` (``[]`` when never set)."""
        _known_key(key)
        return self.stores.ops.get_config(key, [])

    def set_config(self, key: str, value: Any, actor: str = "") -> Any:
        _known_key(key)
        if not isinstance(value, list):
            raise InvalidInputError(f"'{key}' must be a list", field=key)
        try:  # stored as JSON: refused here (a number past 64 bits, say), not half-way through the change
            orjson.dumps(value)
        except TypeError as exc:
            raise InvalidInputError(f"'{key}' cannot be stored: {exc}", field=key) from None
        removed: list[Signal] = []  # the alerts of threshold rules taken away, resolved
        with self.lock:
            if key == "inhibit_rules":
                self.engine.inhibitor.set_rules([InhibitRule.from_dict(r) for r in value])
            elif key == "notification_targets":
                targets = [Target.from_dict(t) for t in value]
                named_once(key, targets, "target")
                self.router.set_targets(targets)
            elif key == "watch_rules":
                self._build_watch(value)
                self._left_out = [e for e in self._left_out if not e.startswith("watch_rules[")]
            elif key == "service_rules":
                self._build_service_watch(value)
                self._left_out = [e for e in self._left_out if not e.startswith("service_rules[")]
            elif key == "metric_rules":
                named_once(key, [ThresholdRule.from_dict(r) for r in value])
                removed = self._build_thresholds(value)
            elif key == "runbooks":
                self.runbooks.set(parse_runbooks(value))
            elif key == "prometheus_queries":
                from opsloop.aiops.ingestion.prometheus_pull import PullQuery

                named_once(key, [PullQuery.from_dict(q) for q in value])
            with self.stores.db.write() as conn:
                self.stores.ops.set_config(key, value, conn=conn)
                self.stores.incidents.audit(conn, actor, "configure", "config", key, {"items": len(value)})
            if removed:
                self._store(removed, [], "rules")
        return value

    def set_topology(self, edges: list[tuple[str, str]], actor: str = "", replace: bool = True) -> None:
        with self.lock:
            if replace:
                self.engine.topology.set_declared(edges)
            else:
                self.engine.topology.add_declared(edges)
            with self.stores.db.write() as conn:
                self.stores.ops.replace_edges(conn, "declared", [(a, b, 1.0) for a, b in
                                                                  self.engine.topology.declared()])
                self.stores.incidents.audit(conn, actor, "set_topology", "topology", "declared",
                                            {"edges": len(edges), "replace": replace})

    def add_silence(self, doc: dict[str, Any], actor: str = "") -> dict[str, Any]:
        now = self.clock()
        kind = doc.get("kind", "silence")
        if kind not in ("silence", "maintenance"):
            raise InvalidInputError("kind must be 'silence' or 'maintenance'", field="kind")
        matchers = silence_matchers(doc.get("matchers"))
        starts, ends = _silence_window(doc, now)
        fields = {"kind": kind, "matchers": [m.to_dict() for m in matchers], "starts_at": starts, "ends_at": ends,
                  "created_by": (actor or doc.get("created_by") or "")[:200], "comment": str(doc.get("comment", "")),
                  "created_at": now}
        with self.lock, self.stores.db.write() as conn:
            sid = self.stores.ops.add_silence(conn, fields)
            self.stores.incidents.audit(conn, actor or fields["created_by"], "create", kind, sid,
                                        {"matchers": [str(m) for m in matchers], "ends_at": ends})
            silence = Silence(sid, matchers, starts, ends, kind, fields["created_by"], fields["comment"], now)
            self.engine.silences.put(silence)
        return silence.to_dict(now)

    def silences(self, include_ended: bool = False) -> list[dict[str, Any]]:
        """The stored silences (by default those not yet ended), as the API shows them."""
        now = self.clock()
        return [s.to_dict(now) for s in _readable(self.stores.ops.silences(active_after=None if include_ended else now))]

    def expire_silence(self, silence_id: int, actor: str = "") -> None:
        now = self.clock()
        with self.lock:
            with self.stores.db.write() as conn:
                self.stores.ops.expire_silence(conn, silence_id, now)
                self.stores.incidents.audit(conn, actor, "expire", "silence", silence_id, {})
                self.engine.silences.remove(silence_id)
            self.engine.wake_muted(now)  # what it muted and still fires is judged now

    def _prune(self, now: float, slice_rows: int = PRUNE_SLICE) -> None:
        """Retention: metric samples, log records and signals past their time; at most ``slice_rows``
        signals a kind a tick (a full slice leaves the rest for the next tick, not the next minute)."""
        if self.metric_history_s > 0:
            self.stores.metric_points.prune(now - self.metric_history_s)
        full = False
        with self.stores.db.write() as conn:
            if self.log_retention_s > 0:
                full |= self.stores.signals.prune(conn, now - self.log_retention_s, [SignalKind.LOG],
                                                  limit=slice_rows) >= slice_rows
            if self.signal_retention_s > 0:
                full |= self.stores.signals.prune(conn, now - self.signal_retention_s, _KEPT_LONGER,
                                                  limit=slice_rows) >= slice_rows
        self._prune_backlog = full

    def tick(self) -> None:
        """Periodic work: flapping holds, group expiry, persisting learned and traced topology,
        retention (metric samples, log records, signals), the span counts of the minute past."""
        with self.lock:
            self.engine.tick()
            now = self.clock()
            if self._prune_backlog or now - self._pruned_at >= 60:
                self._pruned_at = now
                self._prune(now)
            topology = self.engine.topology
            if topology.learned_version != self._learned_version:  # else nothing learned since the last tick
                self._learned_version = topology.learned_version
                learned = [list(x) for x in topology.learned_counts()]
                if learned and learned != self._saved_learned:
                    self.stores.ops.set_config("learned_topology", learned)
                    self._saved_learned = learned
            self._save_traced(now)
            self._close_quiet_logs(now)
            self.persist_logs()
            expired = self.expiry.expired(now)
            if expired:  # alerts of Alertmanager's API not posted again by their end
                self._store(expired, [], ALERT_API_SOURCE)
            span_counts = self.span_errors.closed(now)
            watching = self.metric_watch is not None or self.service_watch is not None
            due = watching and (self._checkpoint_backlog or now - self._checkpointed_at >= self.detector_checkpoint_s)
        self._ingest_span_counts(span_counts)  # the minutes of span counts that are over
        if due:  # a slice a tick, so that the lock is never held long
            self._checkpoint_backlog = self.checkpoint_detectors(limit=CHECKPOINT_SLICE)
        self.warm_detectors()  # restored metric series built before their points come


def _known_key(key: str) -> None:
    if key not in CONFIG_KEYS:
        raise NotFoundError(f"unknown configuration key {key!r}", field="key")


def _series(points: list[MetricPoint], source: str) -> tuple[list[Signal], list[str]]:
    """One ``metric`` signal per series, its latest sample (the store keeps one row per series), and
    for each point the fingerprint of its series' signal (which names the series' samples)."""
    latest: dict[tuple[tuple[str, str], ...], MetricPoint] = {}
    keys = []
    for p in points:
        key = tuple(sorted(p.labels.items()))
        keys.append(key)
        cur = latest.get(key)
        if cur is None or p.time >= cur.time:
            latest[key] = p
    signals = {key: Signal(time=p.time, source=source, kind="metric", service=service_of(p.labels),
                           labels=p.labels, severity=Severity.INFO, text=p.labels.get("__name__", ""),
                           values={"value": p.value})
               for key, p in latest.items()}
    fingerprints = {key: sig.fingerprint() for key, sig in signals.items()}
    return list(signals.values()), [fingerprints[key] for key in keys]


def _silence(doc: dict[str, Any]) -> Silence:
    return Silence(doc["id"], parse_matchers(doc["matchers"]), doc["starts_at"], doc["ends_at"], doc["kind"],
                   doc["created_by"], doc["comment"], doc["created_at"])


def _readable(rows: list[dict[str, Any]]) -> list[Silence]:
    """Stored silences; one whose matchers cannot be read back is logged and left out (before matchers
    were stored as objects, a quote in a value was stored unescaped), so it cannot stop the server."""
    out = []
    for row in rows:
        try:
            out.append(_silence(row))
        except InvalidInputError as exc:
            log.warning("silence %s: its stored matchers %r cannot be read (%s); it is ignored",
                        row.get("id"), row.get("matchers"), exc.message)
    return out
