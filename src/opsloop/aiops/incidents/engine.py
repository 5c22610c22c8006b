"""Signals in, incidents out: the one place a batch of normalised signals is stored and correlated.

For each batch, in one database transaction:

1. stateless signals (logs, events) are stored, exact duplicates folded;
2. stateful signals (alerts, anomalies…) fold into their open occurrence, resolve it, or start a new
   one, in event-time order;
3. a new occurrence is checked against silences and maintenance windows, then the correlator decides
   whether it joins an open incident (with the reasons) or opens one; inhibition keeps a dependent's
   alert from opening an incident of its own;
4. the incidents touched are updated once each, state changes go through ``lifecycle.transition``
   (auto-resolve when every signal resolved, auto-reopen when a resolved incident gets a new one), the
   timeline and the audit trail record them, and notifications are queued in the outbox.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import Connection

from opsloop.aiops.correlation import Correlator, FlapDetector, GroupingConfig, Inhibitor, Topology
from opsloop.aiops.correlation.silences import Silences
from opsloop.aiops.incidents.lifecycle import RESOLVED, TIME_FIELD, TRIGGERED, transition
from opsloop.aiops.incidents.notifications import Router
from opsloop.core.signals import Severity, Signal
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.signals import STATELESS_KINDS, record_rows, row_for, row_to_signal

__all__ = ["EngineConfig", "INHIBITED", "IncidentEngine", "IngestReport", "MUTED_BY"]

SYSTEM = "opsloop"


@dataclass(frozen=True)
class EngineConfig:
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    flap_window_s: float = 600.0
    flap_threshold: int = 4
    max_reasons: int = 200
    reopen_window_s: float = 900.0


@dataclass
class IngestReport:
    """What one batch did."""

    received: int = 0
    stored: int = 0
    folded: int = 0
    resolved: int = 0
    suppressed: int = 0
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "stored": self.stored, "folded": self.folded,
                "resolved": self.resolved, "suppressed": self.suppressed,
                "incidents_opened": self.opened, "incidents_updated": self.updated}


@dataclass
class _Delta:
    """What a batch does to one incident."""

    new: bool = False
    added: int = 0
    open_delta: int = 0
    services: dict[str, None] = field(default_factory=dict)
    severity: int = 0
    labels: dict[str, str] | None = None
    first: float = float("inf")
    last: float = float("-inf")
    reopen_by: str = ""
    flapping: bool = False
    resolutions: int = 0

    def add(self, sig: Signal, opens: bool) -> None:
        self.added += 1
        self.open_delta += 1 if opens else 0
        if sig.service:
            self.services[sig.service] = None
        self.severity = max(self.severity, int(sig.severity))
        self.labels = dict(sig.labels) if self.labels is None else _common(self.labels, sig.labels)
        self.first = min(self.first, sig.time)
        self.last = max(self.last, sig.time)


def _grouping(reasons: list[str], score: float) -> str:
    return orjson.dumps({"reasons": reasons, "score": round(score, 2)}).decode()


def _common(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in a.items() if b.get(k) == v}


MUTED_BY = ("silence:", "maintenance:")  # the ``suppressed`` of a row a silence or maintenance window muted
INHIBITED = "inhibited"  # … of a row an inhibition muted (a rule, or a dependency's alert)


def _event_time(sig: Signal) -> float:
    return sig.time


def _title(sig: Signal) -> str:
    name = sig.labels.get("alertname") or sig.labels.get("rule") or ""
    text = sig.text or name or str(sig.kind)
    if name and name not in text:
        text = f"{name}: {text}"
    return f"{text} [{sig.service}]" if sig.service else text


class IncidentEngine:
    """Stores and correlates signals; holds the correlation state (rebuilt from the store by ``load``)."""

    def __init__(
        self,
        stores: AiopsStores,
        *,
        config: EngineConfig | None = None,
        topology: Topology | None = None,
        router: Router | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.stores = stores
        self.config = config or EngineConfig()
        self.topology = topology or Topology()
        self.correlator = Correlator(self.topology, self.config.grouping)
        self.silences = Silences()
        self.inhibitor = Inhibitor([], self.topology)
        self.flaps = FlapDetector(self.config.flap_window_s, self.config.flap_threshold)
        self.router = router or Router()
        self.clock = clock
        # the fingerprints of the firing alerts each silence or window muted ("maintenance:7"), judged
        # again when it ends
        self._muted: dict[str, set[str]] = {}

    # --- startup ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the in-memory correlation state from the store."""
        db = self.stores.db
        loaded: list[tuple[int, list[tuple[Signal, str]], bool]] = []
        with db.read() as conn:
            # resolved incidents the correlator would still remember had it not restarted (a lone
            # flaky alert rejoins its incident for up to its recurrence window)
            since = self.clock() - max(self.config.reopen_window_s, self.correlator.config.recur_window_s)
            for inc in self.stores.incidents.open_ids(conn, since=since):
                pairs = []
                for row in self.stores.signals.for_incident(inc["id"], conn=conn, limit=5000):
                    sig = row_to_signal(row)
                    pairs.append((sig, row.fingerprint))
                    if row.status == "firing":
                        self.inhibitor.firing(sig, row.fingerprint)
                    self.correlator.observe(sig)
                if pairs:
                    loaded.append((inc["id"], pairs, inc["state"] == RESOLVED))
            for row in self.stores.signals.muted_firing(conn):  # silenced or inhibited, in no incident
                if row.suppressed.startswith(MUTED_BY):
                    self._muted.setdefault(row.suppressed, set()).add(row.fingerprint)
                self.inhibitor.firing(row_to_signal(row), row.fingerprint)
        for incident_id, pairs, resolved in loaded:
            self.correlator.rebuild(incident_id, pairs, resolved=resolved,
                                    by_operator=resolved and self.operator_resolved(incident_id))

    def operator_resolved(self, incident_id: int) -> bool:
        """Whether the incident's last resolution was an operator's ``resolve`` (not auto-resolve): the
        correlator then lets no recurring alert back into it."""
        for entry in self.stores.incidents.audit_trail("incident", incident_id):
            if entry["action"] in ("resolve", "auto_resolve", "reopen", "auto_reopen"):
                return bool(entry["action"] == "resolve")
        return False

    # --- ingestion --------------------------------------------------------------------------------
    def ingest(self, signals: Sequence[Signal], *, now: float | None = None) -> IngestReport:
        now = self.clock() if now is None else now
        report = IngestReport(received=len(signals))
        if not signals:
            return report
        with self.stores.db.write() as conn:
            deltas: dict[int, _Delta] = {}
            stateless: list[Signal] = []
            stateful: list[Signal] = []
            for s in signals:
                (stateless if s.kind in STATELESS_KINDS else stateful).append(s)
            self._stateless(conn, stateless, now, deltas, report)
            if stateful:
                stateful.sort(key=_event_time)
                self._stateful(conn, stateful, now, deltas, report)
            if deltas:
                self._apply(conn, deltas, now, report)
        self.router.flush()
        return report

    def _stateless(self, conn: Connection, signals: list[Signal], now: float, deltas: dict[int, _Delta],
                   report: IngestReport) -> None:
        if not signals:
            return
        rows, index = record_rows(signals, now)
        report.folded += len(signals) - len(rows)
        seen: set[int] = set()
        for sig, at in zip(signals, index, strict=True):
            if sig.kind != "event" or at in seen:
                continue
            seen.add(at)
            decision = self.correlator.decide(sig, rows[at][1])
            if decision.group_id is not None and not self.correlator.groups[decision.group_id].resolved:
                rows[at][17] = decision.group_id
                rows[at][18] = _grouping(["context for the incident", *decision.reasons], decision.score)
                deltas.setdefault(decision.group_id, _Delta()).added += 1
        report.stored += len(rows)  # new rows, or folded into a stored exact duplicate by the upsert
        self.stores.signals.upsert_raw(conn, rows)

    def _stateful(self, conn: Connection, signals: list[Signal], now: float, deltas: dict[int, _Delta],
                  report: IngestReport) -> None:
        fps = [s.fingerprint() for s in signals]
        open_rows = self.stores.signals.open_rows(conn, fps)
        pending: dict[str, dict[str, Any]] = {}  # fingerprint -> new row (inserted at the end)
        folds: dict[int, dict[str, Any]] = {}
        inserts: list[dict[str, Any]] = []
        for sig, fp in zip(signals, fps, strict=True):
            cur = pending.get(fp) or open_rows.get(fp)
            if sig.status == "resolved":
                end = sig.evidence.get("endsAt")
                end = float(end) if isinstance(end, (int, float)) else sig.time
                self.flaps.record(fp, "resolved", end)
                if cur is None:
                    inserts.append(row_for(sig, fp, now))
                    report.stored += 1
                    continue
                self._fold(cur, sig, folds, status="resolved", resolved_at=end)
                open_rows.pop(fp, None)
                pending.pop(fp, None)
                report.resolved += 1
                self.inhibitor.resolved(fp)
                if cur.get("incident_id") is not None:
                    d = deltas.setdefault(cur["incident_id"], _Delta())
                    d.open_delta -= 1
                    d.resolutions += 1
                    d.last = max(d.last, end)
                    if self.flaps.is_flapping(fp, end):
                        d.flapping = True
                continue
            flapping = self.flaps.record(fp, "firing", sig.time)
            if cur is not None:
                self._fold(cur, sig, folds, status="firing", resolved_at=None)
                report.folded += 1
                if "id" in cur and cur.get("incident_id") is None and \
                        str(cur.get("suppressed")).startswith((*MUTED_BY, INHIBITED)):
                    self._rejudge(conn, cur, sig, fp, now, deltas, report, flapping)
                continue
            row = row_for(sig, fp, now)
            self._correlate(conn, sig, fp, row, now, deltas, report, flapping)
            pending[fp] = row
            inserts.append(row)
            report.stored += 1
        self.stores.signals.upsert(conn, inserts)
        self.stores.signals.fold(conn, list(folds.values()))

    def _rejudge(self, conn: Connection, cur: dict[str, Any], sig: Signal, fp: str, now: float,
                 deltas: dict[int, _Delta], report: IngestReport, flapping: bool) -> None:
        """A stored alert a silence or maintenance window or an inhibition muted, sent again while firing:
        once that window has ended (or was expired), or what inhibited it fires no more, it is judged as a
        new alert — it opens or joins an incident, or another silence or an inhibition mutes it — as
        Alertmanager notifies an alert still firing when its silence expires or its inhibiting alert
        resolves; the outcome is written onto its row."""
        silence = self.silences.match(sig.labels, sig.service, now)
        if silence is not None and cur["suppressed"] == f"{silence.kind}:{silence.id}":
            return  # still in its window
        inhibited = cur["suppressed"].startswith(INHIBITED)  # then its correlation saw it already
        if inhibited and silence is None and self.inhibitor.check(sig, fp) is not None:
            return  # its cause still fires
        outcome: dict[str, Any] = {"suppressed": "", "grouping": "", "incident_id": None}
        self._correlate(conn, sig, fp, outcome, now, deltas, report, flapping, observed=inhibited)
        cur.update(outcome)
        self.stores.signals.set_correlation(conn, cur["id"], outcome)

    @staticmethod
    def _fold(cur: dict[str, Any], sig: Signal, folds: dict[int, dict[str, Any]], *, status: str,
              resolved_at: float | None) -> None:
        from opsloop.storage.sql.signals import _dumps

        if "dedup_key" in cur and "id" not in cur:  # a row of this batch, not yet inserted
            cur["count"] += 1
            cur["last_time"] = max(cur["last_time"], sig.time)
            cur["status"] = status
            cur["resolved_at"] = resolved_at
            if status == "firing":
                cur["text"] = sig.text
            return
        u = folds.get(cur["id"])
        if u is None:
            u = folds[cur["id"]] = {"id": cur["id"], "n": 0, "last_time": cur["last_time"], "status": status,
                                    "resolved_at": None, "text": None, "values": None}
        u["n"] += 1
        u["last_time"] = max(u["last_time"], sig.time)
        u["status"] = status
        u["resolved_at"] = resolved_at
        if status == "firing":  # a resolve keeps the firing's text and values (what the episode showed)
            u["text"] = sig.text
            u["values"] = _dumps(sig.values)

    def _correlate(self, conn: Connection, sig: Signal, fp: str, row: dict[str, Any], now: float,
                   deltas: dict[int, _Delta], report: IngestReport, flapping: bool, observed: bool = False) -> None:
        """Mute, group or open: the fate of a new firing alert (``observed``: the correlator has already
        learned from it, when an inhibited alert is judged again)."""
        # a muted alert still inhibits others, as in Alertmanager (whose inhibitor reads every firing alert):
        # silencing a known cause during maintenance must not let what it explains page
        self.inhibitor.firing(sig, fp)
        silence = self.silences.match(sig.labels, sig.service, now)
        if silence is not None:
            row["suppressed"] = f"{silence.kind}:{silence.id}"
            self._muted.setdefault(row["suppressed"], set()).add(fp)
            report.suppressed += 1
            return
        if not observed:
            self.correlator.observe(sig)
        decision = self.correlator.decide(sig, fp)
        inhibited = self.inhibitor.check(sig, fp)
        if decision.group_id is None:
            if inhibited:
                row["suppressed"] = inhibited[:200]
                report.suppressed += 1
                return
            incident_id = self._open(conn, sig, now)
            d = deltas[incident_id] = _Delta(new=True)
            row["grouping"] = _grouping(["opened the incident"], 0.0)
            report.opened.append(incident_id)
        else:
            incident_id = decision.group_id
            d = deltas.setdefault(incident_id, _Delta())
            why = list(decision.reasons) + ([inhibited] if inhibited else [])
            row["grouping"] = _grouping(why, decision.score)
            if decision.reopen and not d.reopen_by:
                d.reopen_by = sig.text[:200] or fp
        d.add(sig, opens=True)
        if flapping:
            d.flapping = True
        row["incident_id"] = incident_id
        self.correlator.add(incident_id, sig, fp)

    def _open(self, conn: Connection, sig: Signal, now: float) -> int:
        return self.stores.incidents.create(conn, {
            "title": _title(sig)[:500], "state": TRIGGERED, "severity": int(sig.severity), "service": sig.service,
            "services": [sig.service] if sig.service else [], "labels": dict(sig.labels), "assignee": "",
            "signal_count": 0, "open_signals": 0, "created_at": now, "updated_at": now,
            "first_signal_at": sig.time, "last_signal_at": sig.time, "resolution": "", "reasons": [], "flags": [],
        })

    def _apply(self, conn: Connection, deltas: dict[int, _Delta], now: float, report: IngestReport) -> None:
        inc = self.stores.incidents
        rows = inc.rows(conn, deltas)
        timeline: list[dict[str, Any]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        for incident_id, d in deltas.items():
            row = rows.get(incident_id)
            if row is None:
                continue
            if row["merged_into"] is not None:
                continue
            fields = self._fields(row, d, now)
            open_signals = fields["open_signals"]
            flags = list(row["flags"])
            if d.flapping and "flapping" not in flags:
                flags.append("flapping")
                fields["flags"] = flags
                timeline.append({"incident_id": incident_id, "time": now, "kind": "flapping", "actor": SYSTEM,
                                 "text": "an alert of this incident is flapping; auto-resolve held"})
            state = row["state"]
            if d.new:
                timeline.append({"incident_id": incident_id, "time": now, "kind": "opened", "actor": SYSTEM,
                                 "text": f"incident opened: {row['title']}"})
                self._queue(conn, timeline, "opened", {**row, **fields}, now)
            elif d.reopen_by and state == RESOLVED:
                self._transition(conn, row, fields, "auto_reopen", SYSTEM, f"new signal: {d.reopen_by}", now,
                                 timeline)
                state = TRIGGERED
            if (state != RESOLVED and open_signals == 0 and d.resolutions and not d.flapping
                    and "flapping" not in flags):
                self._transition(conn, row, fields, "auto_resolve", SYSTEM, "every signal resolved", now, timeline,
                                 at=self.resolved_at(conn, row, now))
                self.correlator.mark_resolved(incident_id, d.last if d.last > float("-inf") else None)
            elif not d.new and ("labels" in fields or fields.get("severity", row["severity"]) != row["severity"]):
                self.router.reach(conn, self.stores.ops, row, {**row, **fields}, now)  # now critical, say
            updates.append((incident_id, fields))
            if not d.new:
                report.updated.append(incident_id)
        inc.update_many(conn, updates)
        inc.add_timeline(conn, timeline)

    def _fields(self, row: dict[str, Any], d: _Delta, now: float) -> dict[str, Any]:
        fields: dict[str, Any] = {"updated_at": now}
        if d.added:
            fields.update(
                signal_count=row["signal_count"] + d.added,
                severity=max(row["severity"], d.severity),
                first_signal_at=min(row["first_signal_at"], d.first),
                last_signal_at=max(row["last_signal_at"], d.last),
            )
            known = set(row["services"])
            if any(svc not in known for svc in d.services):  # rewrite the JSON lists only when they change
                fields["services"] = row["services"] + [svc for svc in d.services if svc not in known]
            if d.labels is not None and not d.new:
                labels = _common(row["labels"], d.labels)
                if labels != row["labels"]:
                    fields["labels"] = labels
        fields["open_signals"] = max(0, row["open_signals"] + d.open_delta)
        return fields

    def resolved_at(self, conn: Connection, row: dict[str, Any], now: float) -> float:
        """When an incident whose alerts all resolved was resolved: when the last of them ended (their
        ``endsAt``), not when that news was processed; never before the incident was opened, nor later
        than ``now``."""
        end = self.stores.incidents.last_end(conn, row["id"])
        return now if end is None else min(now, max(float(end), row["created_at"]))

    def _transition(self, conn: Connection, row: dict[str, Any], fields: dict[str, Any], action: str, actor: str,
                    text: str, now: float, timeline: list[dict[str, Any]], at: float | None = None) -> None:
        """Apply ``action``; the timestamp it sets (``resolved_at``…) is ``at`` if given, else ``now``."""
        tr = transition(row["state"], action)
        fields["state"] = tr.after
        fields["updated_at"] = now
        stamp = TIME_FIELD.get(tr.after)
        if stamp:
            fields[stamp] = now if at is None else at
        if tr.after == TRIGGERED:
            fields["resolved_at"] = None
            fields["acknowledged_at"] = None
            if tr.before == RESOLVED:  # the last resolution's note is in the timeline; it no longer describes
                fields["resolution"] = ""  # the incident, and the next resolution (or comment after it) writes one
        timeline.append({"incident_id": row["id"], "time": now, "kind": "state", "actor": actor,
                         "text": f"{tr.describe()}" + (f": {text}" if text else ""),
                         "data": {"from": tr.before, "to": tr.after, "action": action}})
        self.stores.incidents.audit(conn, actor, action, "incident", row["id"],
                                    {"from": tr.before, "to": tr.after, "text": text}, at=now)
        if tr.event:
            self._queue(conn, timeline, tr.event, {**row, **fields}, now)
        row.update(fields)

    def _queue(self, conn: Connection, timeline: list[dict[str, Any]], event: str, incident: dict[str, Any],
               now: float) -> None:
        """Route ``event`` once the timeline so far is written: what the routing adds to the timeline (a
        runbook queued on it) comes after the entry that says what happened (same time, later id)."""
        if timeline:
            self.stores.incidents.add_timeline(conn, timeline)
            timeline.clear()
        self.router.queue(conn, self.stores.ops, event, incident, now)

    # --- periodic -----------------------------------------------------------------------------------
    def wake_muted(self, now: float | None = None) -> IngestReport:
        """Judge again the alerts still firing that a silence or window muted once it has ended (or was
        expired): each opens or joins an incident, or another silence or an inhibition mutes it — as
        Alertmanager notifies an alert still firing when its silence expires."""
        now = self.clock() if now is None else now
        report = IngestReport()
        ended = [key for key in self._muted if not self._muting(key, now)]
        if not ended:
            return report
        fps = set().union(*(self._muted.pop(key) for key in ended))
        with self.stores.db.write() as conn:
            muted = {r["id"]: r for r in self.stores.signals.open_rows(conn, fps).values()
                     if r["incident_id"] is None and r["suppressed"] in ended}
            deltas: dict[int, _Delta] = {}
            for row in sorted(self.stores.signals.get_many(list(muted), conn), key=attrgetter("time", "id")):
                cur = muted[row.id]
                self._rejudge(conn, cur, row_to_signal(row), cur["fingerprint"], now, deltas, report, False)
            if deltas:
                self._apply(conn, deltas, now, report)
        self.router.flush()
        return report

    def _muting(self, key: str, now: float) -> bool:
        """Whether the silence or window of a ``suppressed`` key (``silence:7``) has yet to end."""
        sid = key.partition(":")[2]
        silence = self.silences.get(int(sid)) if sid.isdigit() else None
        return silence is not None and now < silence.ends_at

    def tick(self, now: float | None = None) -> None:
        """Judge the alerts of silences that ended, release flapping holds whose alerts stayed quiet, and
        forget groups nothing can join."""
        now = self.clock() if now is None else now
        if self._muted:
            self.wake_muted(now)
        self.correlator.expire()
        held = [gid for gid in list(self.correlator.groups)]
        if not held:
            return
        with self.stores.db.write() as conn:
            rows = self.stores.incidents.rows(conn, held)
            timeline: list[dict[str, Any]] = []
            for incident_id, row in rows.items():
                if ("flapping" in row["flags"] and row["state"] != RESOLVED and row["open_signals"] == 0
                        and now - row["last_signal_at"] > self.flaps.window_s):
                    fields = {"flags": [f for f in row["flags"] if f != "flapping"]}
                    self._transition(conn, row, fields, "auto_resolve", SYSTEM,
                                     "flapping alerts stayed resolved", now, timeline,
                                     at=self.resolved_at(conn, row, now))
                    self.stores.incidents.update(conn, incident_id, fields)
                    self.correlator.mark_resolved(incident_id)
            self.stores.incidents.add_timeline(conn, timeline)
        self.router.flush()


def severity_name(value: int) -> str:
    return Severity(value).name.lower()
