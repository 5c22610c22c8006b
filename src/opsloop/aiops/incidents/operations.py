"""What operators do to incidents: acknowledge, resolve, reopen, comment, assign, set the severity, merge
and split.

Each operation is one transaction that changes the incident, writes its timeline entry and an audit
record, queues notifications, and keeps the correlator's view in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from opsloop.aiops.incidents.engine import IncidentEngine, severity_name
from opsloop.aiops.incidents.lifecycle import RESOLVED, TRIGGERED
from opsloop.core.signals import SEVERITY_ALIASES
from opsloop.errors import InvalidInputError, InvalidStateError, NotFoundError
from opsloop.storage.sql.signals import row_to_signal

__all__ = ["Operations"]


def _actor(actor: str | None) -> str:
    actor = (actor or "").strip()
    return actor[:200] if actor else "anonymous"


class Operations:
    def __init__(self, engine: IncidentEngine) -> None:
        self.engine = engine
        self.stores = engine.stores

    def _now(self) -> float:
        return self.engine.clock()

    def act(self, incident_id: int, action: str, actor: str | None = None, text: str = "") -> dict[str, Any]:
        """A lifecycle action (``ack``, ``unack``, ``resolve``, ``reopen``) by an operator."""
        if action not in ("ack", "unack", "resolve", "reopen"):
            raise InvalidInputError(f"unknown action {action!r}", field="action")
        actor, now = _actor(actor), self._now()
        with self.stores.db.write() as conn:
            row = self.stores.incidents.row(conn, incident_id, lock=True)
            if row["merged_into"] is not None:
                raise InvalidStateError(f"incident {incident_id} was merged into {row['merged_into']}")
            fields: dict[str, Any] = {}
            timeline: list[dict[str, Any]] = []
            self.engine._transition(conn, row, fields, action, actor, text, now, timeline)
            if action == "resolve" and text:
                fields["resolution"] = text
            self.stores.incidents.update(conn, incident_id, fields)
            self.stores.incidents.add_timeline(conn, timeline)
        self.engine.router.flush()
        if action == "resolve":
            self.engine.correlator.mark_resolved(incident_id, by_operator=True)
        elif action == "reopen":
            self._refresh(incident_id)
        return self.stores.incidents.get(incident_id)

    def comment(self, incident_id: int, actor: str | None, text: str) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("a comment needs 'text'", field="text")
        actor, now = _actor(actor), self._now()
        with self.stores.db.write() as conn:
            row = self.stores.incidents.row(conn, incident_id)
            fields: dict[str, Any] = {"updated_at": now}
            if row["state"] == RESOLVED and not row["resolution"]:
                fields["resolution"] = text[:10000]
            self.stores.incidents.update(conn, incident_id, fields)
            self.stores.incidents.add_timeline(conn, [{"incident_id": incident_id, "time": now, "kind": "comment",
                                                       "actor": actor, "text": text[:10000]}])
            self.stores.incidents.audit(conn, actor, "comment", "incident", incident_id, {"text": text[:500]}, at=now)
        return self.stores.incidents.get(incident_id)

    def assign(self, incident_id: int, assignee: str, actor: str | None = None) -> dict[str, Any]:
        if not isinstance(assignee, str) or len(assignee) > 200:
            raise InvalidInputError("'assignee' must be a string of at most 200 characters", field="assignee")
        actor, now = _actor(actor), self._now()
        with self.stores.db.write() as conn:
            row = self.stores.incidents.row(conn, incident_id)
            self.stores.incidents.update(conn, incident_id, {"assignee": assignee, "updated_at": now})
            text = f"assigned to {assignee}" if assignee else "unassigned"
            self.stores.incidents.add_timeline(conn, [{"incident_id": incident_id, "time": now, "kind": "assign",
                                                       "actor": actor, "text": text,
                                                       "data": {"from": row["assignee"], "to": assignee}}])
            self.stores.incidents.audit(conn, actor, "assign", "incident", incident_id,
                                        {"from": row["assignee"], "to": assignee}, at=now)
        return self.stores.incidents.get(incident_id)

    def set_severity(self, incident_id: int, level: str, actor: str | None = None) -> dict[str, Any]:
        """An operator sets the incident's severity (``info``, ``warning``, ``error``, ``critical`` or a
        synonym such as ``crit`` or ``p1``). Raised, it reaches the targets that route it only now, as
        when an alert escalates it (they get ``opened``). Its alerts raise it again as they come."""
        word = level.strip().lower() if isinstance(level, str) else ""
        if word not in SEVERITY_ALIASES:
            raise InvalidInputError(f"severity {level!r} is not a severity (expected info, warning, error or "
                                    "critical)", field="severity")
        severity = int(SEVERITY_ALIASES[word])
        actor, now = _actor(actor), self._now()
        with self.stores.db.write() as conn:
            row = self.stores.incidents.row(conn, incident_id, lock=True)
            if row["merged_into"] is not None:
                raise InvalidStateError(f"incident {incident_id} was merged into {row['merged_into']}", field="id")
            if row["severity"] != severity:
                before, after = severity_name(row["severity"]), severity_name(severity)
                fields = {"severity": severity, "updated_at": now}
                self.stores.incidents.update(conn, incident_id, fields)
                self.stores.incidents.add_timeline(conn, [{
                    "incident_id": incident_id, "time": now, "kind": "severity", "actor": actor,
                    "text": f"severity {before} → {after}", "data": {"from": before, "to": after}}])
                self.stores.incidents.audit(conn, actor, "severity", "incident", incident_id,
                                            {"from": before, "to": after}, at=now)
                self.engine.router.reach(conn, self.stores.ops, row, {**row, **fields}, now)
        self.engine.router.flush()
        return self.stores.incidents.get(incident_id)

    # --- merge and split ----------------------------------------------------------------------------
    def merge(self, target_id: int, source_ids: Sequence[int], actor: str | None = None) -> dict[str, Any]:
        sources = list(dict.fromkeys(int(s) for s in source_ids if int(s) != int(target_id)))
        if not sources:
            raise InvalidInputError("merge needs at least one source incident other than the target",
                                    field="source_ids")
        actor, now = _actor(actor), self._now()
        with self.stores.db.write() as conn:
            target = self._row(conn, target_id, "target_id")
            if target["merged_into"] is not None:
                raise InvalidStateError(f"incident {target_id} was itself merged into {target['merged_into']}")
            before = dict(target)
            timeline: list[dict[str, Any]] = []
            severity = target["severity"]
            for sid in sources:
                src = self._row(conn, sid, "source_ids")
                severity = max(severity, src["severity"])
                if src["merged_into"] is not None:
                    raise InvalidStateError(f"incident {sid} was already merged into {src['merged_into']}")
                fields: dict[str, Any] = {"merged_into": target_id, "open_signals": 0, "signal_count": 0}
                self.engine._transition(conn, src, fields, "merge", actor, f"merged into #{target_id}", now,
                                        timeline)
                self.stores.signals.move_incident(conn, sid, target_id)
                self.stores.incidents.update(conn, sid, fields)
                timeline.append({"incident_id": target_id, "time": now, "kind": "merge", "actor": actor,
                                 "text": f"incident #{sid} ({src['title']}) merged in", "data": {"source": sid}})
                reasons = target["reasons"] + [{"time": now, "service": "", "text": f"#{sid}: {src['title']}",
                                                "reasons": [f"merged in by {actor}"]}] + src["reasons"][:50]
                target["reasons"] = reasons
            fields = self._aggregate(conn, target_id)
            # never lowered by a merge: an operator may have set a severity above its alerts' (set_severity)
            fields["severity"] = max(fields.get("severity", severity), severity)
            fields.update(reasons=target["reasons"][-self.engine.config.max_reasons:], updated_at=now)
            if target["state"] == RESOLVED and fields["open_signals"] > 0:
                self.engine._transition(conn, target, fields, "reopen", actor, "merged incidents still firing", now,
                                        timeline)
            self.engine.router.reach(conn, self.stores.ops, before, {**target, **fields}, now)  # now critical, say
            self.stores.incidents.update(conn, target_id, fields)
            self.stores.incidents.add_timeline(conn, timeline)
            self.stores.incidents.audit(conn, actor, "merge", "incident", target_id, {"sources": sources}, at=now)
        self.engine.router.flush()
        for sid in sources:
            self.engine.correlator.remove(sid)
        self._refresh(target_id)
        return self.stores.incidents.get(target_id)

    def _row(self, conn: Connection, incident_id: int, field: str) -> dict[str, Any]:
        """The incident named by the request's ``field`` (locked), else ``NotFoundError`` naming that field."""
        try:
            return self.stores.incidents.row(conn, incident_id, lock=True)
        except NotFoundError as exc:
            raise NotFoundError(str(exc), field=field) from None

    def split(self, incident_id: int, signal_ids: Sequence[int], actor: str | None = None) -> dict[str, Any]:
        """Move the given signals out into a new incident; returns the new incident."""
        ids = sorted({int(s) for s in signal_ids})
        if not ids:
            raise InvalidInputError("split needs 'signal_ids'", field="signal_ids")
        actor, now = _actor(actor), self._now()
        with self.stores.db.write() as conn:
            row = self.stores.incidents.row(conn, incident_id, lock=True)
            found = self.stores.signals.get_many(ids, conn)
            foreign = sorted(set(ids) - {r.id for r in found if r.incident_id == incident_id})
            if foreign:
                raise InvalidInputError(f"signals {foreign[:10]} are not in incident {incident_id}", field="signal_ids")
            if len(found) >= row["signal_count"]:
                raise InvalidInputError("a split must leave at least one signal in the incident", field="signal_ids")
            first = min(found, key=lambda r: (r.time, r.id))
            sig = row_to_signal(first)
            from opsloop.aiops.incidents.engine import _title

            new_id = self.stores.incidents.create(conn, {
                "title": _title(sig)[:500], "state": TRIGGERED, "severity": first.severity,
                "service": first.service, "services": [], "labels": {}, "assignee": row["assignee"],
                "signal_count": 0, "open_signals": 0, "created_at": now, "updated_at": now,
                "first_signal_at": first.time, "last_signal_at": first.time, "resolution": "",
                "reasons": [{"time": now, "service": "", "text": f"split from #{incident_id}",
                             "reasons": [f"split by {actor}"]}], "flags": [],
            })
            self.stores.signals.set_incident(conn, ids, new_id)
            for iid in (incident_id, new_id):
                fields = self._aggregate(conn, iid)
                fields["updated_at"] = now
                current = self.stores.incidents.row(conn, iid)
                timeline: list[dict[str, Any]] = []
                if iid == new_id:  # opened before it may resolve: a receiver never gets its trigger last
                    self.engine.router.queue(conn, self.stores.ops, "opened", {**current, **fields}, now)
                if self._split_resolves(current, fields, row, found if iid == new_id else None):
                    self.engine._transition(conn, current, fields, "auto_resolve", actor, "every signal resolved",
                                            now, timeline, at=self.engine.resolved_at(conn, current, now))
                elif iid == incident_id:  # what is left may route elsewhere (labels all its alerts now share)
                    self.engine.router.reach(conn, self.stores.ops, row, {**current, **fields}, now)
                self.stores.incidents.update(conn, iid, fields)
                self.stores.incidents.add_timeline(conn, timeline)
            self.stores.incidents.add_timeline(conn, [
                {"incident_id": incident_id, "time": now, "kind": "split", "actor": actor,
                 "text": f"{len(ids)} signals split out into #{new_id}", "data": {"new": new_id, "signals": ids}},
                {"incident_id": new_id, "time": now, "kind": "split", "actor": actor,
                 "text": f"split from #{incident_id}", "data": {"from": incident_id, "signals": ids}},
            ])
            self.stores.incidents.audit(conn, actor, "split", "incident", incident_id,
                                        {"new": new_id, "signals": ids}, at=now)
        self.engine.router.flush()
        self._refresh(incident_id)
        self._refresh(new_id)
        return self.stores.incidents.get(new_id)

    @staticmethod
    def _split_resolves(current: dict[str, Any], fields: dict[str, Any], source: dict[str, Any],
                        moved: Sequence[Any] | None) -> bool:
        """Whether an incident of a split has every alert resolved and resolves: the new one (``moved``, its
        signals) when they all had; the source when the split took its last firing ones (one an operator
        reopened with none firing, or a flapping one, stays as it is)."""
        if current["state"] == RESOLVED or fields["open_signals"] > 0 or "flapping" in current["flags"]:
            return False
        if moved is not None:
            return all(r.status == "resolved" for r in moved)
        return bool(source["open_signals"] > 0)

    def _aggregate(self, conn: Connection, incident_id: int) -> dict[str, Any]:
        rows = self.stores.signals.for_incident(incident_id, conn=conn)
        if not rows:
            return {"signal_count": 0, "open_signals": 0}
        services = list(dict.fromkeys(r.service for r in rows if r.service))
        labels: dict[str, str] | None = None
        for r in rows:
            sig_labels = row_to_signal(r).labels
            labels = dict(sig_labels) if labels is None else {k: v for k, v in labels.items()
                                                               if sig_labels.get(k) == v}
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.service] = counts.get(r.service, 0) + 1
        first = min(rows, key=lambda r: r.time)
        return {
            "signal_count": len(rows),
            "open_signals": sum(1 for r in rows if r.status == "firing" and r.kind not in ("log", "event")),
            "services": services,
            "service": first.service or (services[0] if services else ""),
            "labels": labels or {},
            "severity": max(r.severity for r in rows),
            "first_signal_at": first.time,
            "last_signal_at": max(r.last_time for r in rows),
        }

    def _refresh(self, incident_id: int) -> None:
        """Rebuild the correlator's view of one incident from the store."""
        with self.stores.db.read() as conn:
            row = self.stores.incidents.row(conn, incident_id)
            pairs = [(row_to_signal(r), r.fingerprint) for r in self.stores.signals.for_incident(
                incident_id, conn=conn, limit=5000)]
        if pairs:
            resolved = row["state"] == RESOLVED
            self.engine.correlator.rebuild(incident_id, pairs, resolved=resolved,
                                           by_operator=resolved and self.engine.operator_resolved(incident_id))
        else:
            self.engine.correlator.remove(incident_id)


