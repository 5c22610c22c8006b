"""Outgoing notifications: routing by labels and severity, an outbox, retries with backoff, dead letters.

Targets are documents (stored under the ``notification_targets`` config key)::

    {"name": "oncall", "url": "https://hooks.example/…", "format": "json" | "slack" | "pagerduty",
     "matchers": ["service=~\\"checkout|payments\\""], "min_severity": "error",
     "events": ["opened", "acknowledged", "resolved", "reopened"], "headers": {"Authorization": "…"},
     "routing_key": "…"}

``pagerduty`` sends PagerDuty Events API v2 bodies (``url`` ``https://events.pagerduty.com/v2/enqueue``,
``routing_key`` the integration key): an incident opened or reopened triggers a PagerDuty alert
deduplicated by the incident id, acknowledged acknowledges it, resolved or merged resolves it.

When an incident changes, ``Router.queue`` writes one outbox row per matching target *in the same
transaction as the change*, so a notification exists as soon as the change does. ``Dispatcher``
delivers due rows; a failed delivery is retried with exponential backoff (``base_delay_s`` doubling up
to ``max_delay_s``) and after ``max_attempts`` (at once for a 4xx but 408, 425 and 429) the row becomes a
dead letter, which an operator can replay. A target that is down therefore loses nothing: rows wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from opsloop.aiops.correlation.silences import Matcher, matches_all, parse_matchers
from opsloop.core.signals import Severity
from opsloop.errors import InvalidInputError
from opsloop.storage.sql.schema_aiops import aiops_notifications

__all__ = ["DELIVERED_RETENTION_S", "EVENTS", "FORMATS", "TARGET_KEYS", "URL_MASK", "Dispatcher", "Router", "Target", "first_set",
           "incident_payload", "mask_url", "pagerduty_body", "routes", "slack_body"]

log = logging.getLogger("opsloop.aiops.notifications")

EVENTS = ("opened", "acknowledged", "resolved", "reopened", "merged")
FORMATS = ("json", "slack", "pagerduty")
_PD_ACTIONS = {"opened": "trigger", "reopened": "trigger", "acknowledged": "acknowledge", "resolved": "resolve",
               "merged": "resolve"}
_COLORS = {1: "#439FE0", 2: "warning", 3: "#E8590C", 4: "danger"}
TARGET_KEYS = frozenset({"name", "url", "format", "matchers", "min_severity", "events", "headers", "routing_key"})
URL_MASK = "***"


def mask_url(url: str) -> str:
    """``url`` as answers show it: scheme, host and port, the rest (user, path, query) as ``/***``.

    A webhook URL is a credential (a Slack incoming webhook's path is its token; a query may carry an API
    key), so only where it points is shown, as Alertmanager shows ``<secret>`` for its own.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return URL_MASK
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    where = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "") if parts.netloc else ""
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment \
            or parts.path not in ("", "/"):
        return f"{where}/{URL_MASK}"
    return where + parts.path


@dataclass
class Target:
    name: str
    url: str
    format: str = "json"
    matchers: list[Matcher] = field(default_factory=list)
    min_severity: Severity = Severity.INFO
    events: tuple[str, ...] = EVENTS
    headers: dict[str, str] = field(default_factory=dict)
    routing_key: str = ""

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Target:
        if not isinstance(doc, Mapping):
            raise InvalidInputError("a notification target must be an object", field="targets")
        name, url = doc.get("name"), doc.get("url")
        if not isinstance(name, str) or not name or len(name) > 200:
            raise InvalidInputError("a target needs a 'name'", field="name")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"target {name!r}: 'url' must be an http(s) URL", field="url")
        fmt = doc.get("format", "json")
        if fmt not in FORMATS:
            raise InvalidInputError(f"target {name!r}: format must be one of {', '.join(FORMATS)}", field="format")
        routing_key = doc.get("routing_key") or ""
        if not isinstance(routing_key, str) or (fmt == "pagerduty") != bool(routing_key):
            raise InvalidInputError(f"target {name!r}: a 'routing_key' (string) goes with format 'pagerduty', "
                                    f"and only with it", field="routing_key")
        events = doc.get("events") or list(EVENTS)
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise InvalidInputError(f"target {name!r}: events must be among {', '.join(EVENTS)}", field="events")
        headers = doc.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise InvalidInputError(f"target {name!r}: headers must map names to strings", field="headers")
        return cls(name, url, fmt, parse_matchers(doc.get("matchers") or []),
                   Severity.parse(doc.get("min_severity", "info")), tuple(events), dict(headers), routing_key)

    def to_dict(self) -> dict[str, Any]:
        """The target as answers show it: its URL masked (``mask_url``), its secrets as ``***``."""
        out = {"name": self.name, "url": mask_url(self.url), "format": self.format,
               "matchers": [str(m) for m in self.matchers], "min_severity": self.min_severity.name.lower(),
               "events": list(self.events), "headers": {k: "***" for k in self.headers}}
        if self.routing_key:
            out["routing_key"] = "***"
        return out

    def body(self, payload: Mapping[str, Any]) -> Any:
        """What this target is sent for a notification ``payload`` (see ``incident_payload``)."""
        if self.format == "slack":
            return slack_body(payload)
        if self.format == "pagerduty":
            return pagerduty_body(payload, self.routing_key)
        return payload

    def wants(self, event: str, incident: Mapping[str, Any]) -> bool:
        return routes(self.matchers, self.min_severity, self.events, event, incident)


def routes(matchers: list[Matcher], min_severity: Severity, events: Iterable[str], event: str,
           incident: Mapping[str, Any]) -> bool:
    """Whether an incident ``event`` reaches a route: one of its events, severe enough, labels matching
    (``service`` and ``severity`` match like labels). Notification targets and runbooks route alike."""
    if event not in events or int(incident.get("severity", 2)) < int(min_severity):
        return False
    view = dict(incident.get("labels") or {})
    view.setdefault("service", incident.get("service", ""))
    view.setdefault("severity", Severity(int(incident.get("severity", 2))).name.lower())
    return matches_all(matchers, view)


def incident_payload(event: str, incident: Mapping[str, Any], now: float, link_base: str | None = None) -> dict[str, Any]:
    """The generic notification of ``event``; with ``link_base`` (the UI's URL) the incident carries its ``url``."""
    sev = int(incident.get("severity", 2))
    payload: dict[str, Any] = {
        "version": "1",
        "event": event,
        "time": now,
        "incident": {
            "id": incident["id"], "title": incident["title"], "state": incident["state"],
            "severity": Severity(sev).name.lower(), "service": incident.get("service", ""),
            "services": list(incident.get("services") or []), "labels": dict(incident.get("labels") or {}),
            "assignee": incident.get("assignee", ""), "signal_count": incident.get("signal_count", 0),
            "created_at": incident.get("created_at"), "resolved_at": incident.get("resolved_at"),
            "merged_into": incident.get("merged_into"),
        },
    }
    if link_base:
        payload["incident"]["url"] = f"{link_base}/#/incidents/{incident['id']}"
    return payload


def _slack_text(text: str) -> str:
    """``text`` as Slack reads it literally: its control characters escaped, as Slack asks (``<!channel>``
    in an alert would notify the whole channel, ``<url|label>`` would be a link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body (``text`` plus one attachment) for a generic payload."""
    inc = payload["incident"]
    sev = int(Severity.parse(inc["severity"]))
    color = "good" if payload["event"] == "resolved" else _COLORS.get(sev, "warning")
    title = _slack_text(inc["title"])
    text = f"[{payload['event'].upper()}] Incident #{inc['id']}: {title}"
    fields = [{"title": "Severity", "value": inc["severity"], "short": True},
              {"title": "State", "value": inc["state"], "short": True}]
    if inc["services"]:
        fields.append({"title": "Services", "value": _slack_text(", ".join(inc["services"][:10])), "short": False})
    if inc.get("assignee"):
        fields.append({"title": "Assignee", "value": _slack_text(inc["assignee"]), "short": True})
    if payload["event"] == "merged" and inc.get("merged_into"):  # where to follow it from now on
        text += f" → merged into #{inc['merged_into']}"
        fields.append({"title": "Merged into", "value": f"#{inc['merged_into']}", "short": True})
    count = inc["signal_count"]
    attachment = {"color": color, "title": title, "fields": fields,
                  "footer": f"opsloop · {count} signal{'' if count == 1 else 's'}", "ts": int(payload["time"])}
    if inc.get("url"):
        attachment["title_link"] = inc["url"]
    return {"text": text, "attachments": [attachment]}


def pagerduty_body(payload: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 event for a generic payload, deduplicated by the incident id."""
    inc = payload["incident"]
    action = _PD_ACTIONS[payload["event"]]
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                            "dedup_key": f"opsloop-incident-{inc['id']}", "client": "opsloop"}
    if action == "trigger":
        services = inc["services"] or ([inc["service"]] if inc["service"] else [])
        body["payload"] = {
            "summary": f"Incident #{inc['id']}: {inc['title']}"[:1024],
            "source": inc["service"] or "opsloop", "severity": inc["severity"],
            "timestamp": datetime.fromtimestamp(payload["time"], UTC).isoformat().replace("+00:00", "Z"),
            "custom_details": {"labels": inc["labels"], "services": services, "signal_count": inc["signal_count"],
                               "state": inc["state"], "assignee": inc["assignee"]},
        }
        # optional strings in PagerDuty's schema: left out when there is nothing to say (never null)
        if inc["service"]:
            body["payload"]["component"] = inc["service"]
        if services:
            body["payload"]["group"] = ", ".join(services[:10])
        if inc.get("url"):
            body["links"] = [{"href": inc["url"], "text": f"Incident #{inc['id']} in opsloop"}]
    return body


class Router:
    """Which targets an incident change goes to; writes their outbox rows."""

    def __init__(self, targets: Iterable[Target] = (), *, link_base: str | None = None) -> None:
        self.targets = list(targets)
        self.link_base = link_base  # the UI's URL: notifications link their incident there
        # Called as listener(conn, event, incident, now) in the same transaction, after the targets'
        # rows are written: other durable reactions to incident changes (runbooks) hook in here.
        self.listeners: list[Callable[[Any, str, Mapping[str, Any], float], Any]] = []
        # per recent incident, the targets queued a notification of it; an incident not in it (older, or
        # from before a restart) is looked up in the outbox once (by its incident index).
        # A transaction rolled back may leave a name here whose row is gone: that target may then get one
        # more of the incident's events, never one fewer.
        self._told: OrderedDict[int, set[str]] = OrderedDict()
        # Called (from any thread) by ``flush`` once rows queued here are committed: the dispatcher
        # delivers them now instead of at its next poll.
        self.on_queued: list[Callable[[], None]] = []
        self._queued = False  # rows were queued since the last ``flush``

    def set_targets(self, targets: Iterable[Target]) -> None:
        self.targets = list(targets)

    def flush(self) -> None:
        """Tell ``on_queued`` that notifications were queued; call it once their transaction committed (a
        rolled-back one costs the dispatcher one look at the outbox, nothing else)."""
        if not self._queued:
            return
        self._queued = False
        for callback in self.on_queued:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a dispatcher that cannot be woken polls anyway
                log.exception("waking the notification dispatcher failed")

    def queue(self, conn: Any, ops: Any, event: str, incident: Mapping[str, Any], now: float) -> int:
        """Queue ``event`` of ``incident`` to the targets it routes to now, and to those told of the
        incident before (the db team paged for it hears its end after an alert of another team joined it)."""
        targets = [t for t in self.targets if t.wants(event, incident)]
        others = [t for t in self.targets if event in t.events and t not in targets]
        if others and event != "opened":
            told = self.told(conn, incident["id"])
            targets += [t for t in others if t.name in told]
        self._enqueue(conn, ops, targets, event, incident, now)
        for listener in self.listeners:
            listener(conn, event, incident, now)
        return len(targets)

    def reach(self, conn: Any, ops: Any, before: Mapping[str, Any], after: Mapping[str, Any], now: float) -> int:
        """Queue 'opened' to the targets an open incident reaches only since a change (``before`` →
        ``after``) and that have heard nothing of it: one for critical incidents hears of an incident
        that opened as a warning once it is critical."""
        if after["state"] == "resolved":
            return 0
        fresh = [t for t in self.targets if t.wants("opened", after) and not t.wants("opened", before)]
        if fresh:
            told = self.told(conn, after["id"])
            fresh = [t for t in fresh if t.name not in told]
            self._enqueue(conn, ops, fresh, "opened", after, now)
        return len(fresh)

    def told(self, conn: Any, incident_id: int) -> set[str]:
        """The names of the targets the outbox holds a notification of the incident for."""
        names = self._told.get(incident_id)
        if names is None:
            N = aiops_notifications
            names = set(conn.execute(select(N.c.target).where(N.c.incident_id == incident_id).distinct()).scalars())
            self._remember(incident_id, names)
        return names

    def _remember(self, incident_id: int, names: Iterable[str]) -> None:
        told = self._told.setdefault(incident_id, set())
        told.update(names)
        self._told.move_to_end(incident_id)
        while len(self._told) > _TOLD_KEPT:
            self._told.popitem(last=False)

    def _enqueue(self, conn: Any, ops: Any, targets: list[Target], event: str, incident: Mapping[str, Any],
                 now: float) -> None:
        if event == "opened" or incident["id"] in self._told:  # known from its start, or looked up already
            self._remember(incident["id"], (t.name for t in targets))
        if targets:
            self._queued = True
            payload = incident_payload(event, incident, now, self.link_base)
            ops.enqueue(conn, [{"target": t.name, "incident_id": incident["id"], "event": event, "payload": payload,
                                "created_at": now} for t in targets])


# the incidents whose told targets the router keeps in memory
_TOLD_KEPT = 20_000


# How long delivered notifications stay in the outbox (0: for ever); the last one of each target and
# incident stays whatever its age (see ``SqlOpsStore.prune_delivered``), dead letters are never pruned.
DELIVERED_RETENTION_S = 7 * 86400.0
_PRUNE_EVERY_S = 3600.0  # how often the dispatcher prunes them
_PRUNE_SLICE = 10_000  # rows a prune deletes at most (a full slice: the next one follows at once)


class Dispatcher:
    """Delivers due outbox rows; retries with exponential backoff; dead-letters after ``max_attempts``;
    prunes delivered rows past ``delivered_retention_s``."""

    def __init__(self, ops: Any, router: Router, *, max_attempts: int = 8, base_delay_s: float = 1.0,
                 max_delay_s: float = 300.0, timeout_s: float = 5.0, clock: Any = _time.time,
                 transport: httpx.AsyncBaseTransport | None = None,
                 delivered_retention_s: float = DELIVERED_RETENTION_S) -> None:
        self.ops = ops
        self.router = router
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.transport = transport
        self.idle_s = 1.0  # how long ``run`` waits for a wake before it looks at the outbox again
        self.delivered_retention_s = delivered_retention_s
        self._pruned_at: float | None = None
        self.wake = _Wake()  # set (from any thread) when notifications were queued: deliver them now
        router.on_queued.append(self.wake.set)

    @property
    def lease_s(self) -> float:
        """How long a claimed row is this worker's: the longest one delivery may take."""
        return self.timeout_s * 4

    def backoff(self, attempts: int) -> float:
        delay = min(self.max_delay_s, self.base_delay_s * (2 ** max(0, attempts - 1)))
        return delay * (1.0 + 0.2 * random.random())

    def prune(self) -> int:
        """Delete the delivered rows past ``delivered_retention_s`` (one slice); returns how many went."""
        if self.delivered_retention_s <= 0:
            return 0
        pruned = int(self.ops.prune_delivered(self.clock() - self.delivered_retention_s, _PRUNE_SLICE))
        if pruned:
            log.info("pruned %d delivered notifications", pruned)
        return pruned

    async def _prune_due(self) -> None:
        """``prune`` once every ``_PRUNE_EVERY_S`` (at once again while it deletes full slices)."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY_S:
            return
        self._pruned_at = now
        if await asyncio.to_thread(self.prune) >= _PRUNE_SLICE:
            self._pruned_at = None

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Try every due row once (until ``stop`` is set); returns how many were delivered."""
        now = self.clock()
        due = await asyncio.to_thread(self.ops.due, now)
        if not due:
            return 0
        targets = {t.name: t for t in self.router.targets}
        queues: dict[str, list[dict[str, Any]]] = {}
        for row in due:
            queues.setdefault(row["target"], []).append(row)
        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as client:
            counts = await asyncio.gather(*(self._deliver_queue(client, rows, targets.get(name), stop)
                                            for name, rows in queues.items()))
        return sum(counts)

    async def _deliver_queue(self, client: httpx.AsyncClient, rows: list[dict[str, Any]], target: Target | None,
                             stop: asyncio.Event | None) -> int:
        """One target's due rows, in order (the targets are served side by side, so one that never answers
        holds up no other). Once it cannot be reached, its other rows wait for its retry instead of each
        waiting for its own timeout."""
        delivered = 0
        for i, row in enumerate(rows):
            if stop is not None and stop.is_set():
                break
            sent, unreachable_until = await self._deliver(client, row, target)
            delivered += sent
            if unreachable_until is not None:
                for later in rows[i + 1:]:
                    await asyncio.to_thread(self.ops.mark, later["id"], {"next_attempt_at": unreachable_until})
                break
        return delivered

    async def _deliver(self, client: httpx.AsyncClient, row: dict[str, Any], target: Target | None
                       ) -> tuple[int, float | None]:
        """Try one row: ``(1 if delivered, the retry time when its target could not be reached)``."""
        if not await asyncio.to_thread(self.ops.claim, row["id"], self.clock(), self.lease_s):
            return 0, None  # another server worker is delivering it
        error, final, unreachable = "", False, False
        if target is None:
            error = f"target {row['target']!r} is not configured"
        else:
            try:
                resp = await _post(client, target, row["payload"])
                if 200 <= resp.status_code < 300:
                    await asyncio.to_thread(self.ops.mark, row["id"], {
                        "state": "delivered", "attempts": row["attempts"] + 1, "delivered_at": self.clock(),
                        "last_error": ""})
                    return 1, None
                error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                final = resp.is_client_error and resp.status_code not in _RETRIED_4XX  # it is the request itself
                if resp.is_redirect:
                    error = (f"HTTP {resp.status_code}: moved to {resp.headers['location'][:300]} (only a 307 or 308 "
                             "redirect is followed: the others would resend the POST as a GET without its body)")
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {str(exc).replace(target.url, mask_url(target.url))}"[:500]
                unreachable = isinstance(exc, httpx.TransportError)  # refused, timed out: not this row's fault
            except (UnicodeError, ValueError) as exc:  # a header httpx cannot send (not ASCII): no try can help
                error, final = f"the request cannot be sent: {type(exc).__name__}: {exc}"[:500], True
        attempts = row["attempts"] + 1
        if attempts >= self.max_attempts or final:
            fields = {"state": "dead", "attempts": attempts, "last_error": error}
            log.warning("notification %s to %s is a dead letter after %d attempts: %s", row["id"], row["target"],
                        attempts, error)
        else:
            fields = {"attempts": attempts, "last_error": error,
                      "next_attempt_at": self.clock() + self.backoff(attempts)}
        await asyncio.to_thread(self.ops.mark, row["id"], fields)
        return 0, fields.get("next_attempt_at") if unreachable else None

    async def run(self, stop: asyncio.Event, idle_s: float | None = None) -> None:
        """Deliver until ``stop`` is set; a delivery under way then is finished and recorded (await this
        task for up to ``lease_s`` before cancelling it: else the receiver gets it again after a restart).
        Between looks at the outbox it waits ``idle_s`` (default ``self.idle_s``) or until woken."""
        self.wake.bind(asyncio.get_running_loop())
        while not stop.is_set():
            delivered = 0
            try:
                delivered = await self.run_once(stop)
                await self._prune_due()
            except Exception:  # noqa: BLE001 - a bad row or a DB hiccup must not stop delivery
                log.exception("notification dispatch failed")
            if delivered:  # the events an incident queued behind those are due now, not in a second
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(first_set(stop, self.wake), timeout=self.idle_s if idle_s is None else idle_s)
            except TimeoutError:
                pass


class _Wake(asyncio.Event):
    """An ``asyncio.Event`` that may be set from any thread: the API's worker threads wake the dispatcher.

    A plain event set outside its loop's thread wakes no one until that loop next looks (its next timer):
    the dispatcher would wait out its poll interval after all.
    """

    def __init__(self) -> None:
        super().__init__()
        self._bound: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._bound = loop

    def set(self) -> None:
        loop = self._bound
        if loop is None or loop.is_closed():
            super().set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            super().set()
        else:
            loop.call_soon_threadsafe(super().set)


# the client errors worth another try (a timeout, too many requests); any other 4xx says the request itself
# is wrong, which sending it again cannot change: it is a dead letter at once (Alertmanager does not retry them)
_RETRIED_4XX = frozenset({408, 425, 429})

# redirects followed per delivery: with the first request, within the claim of ``Dispatcher.lease_s``
_MAX_REDIRECTS = 2


async def _post(client: httpx.AsyncClient, target: Target, payload: Mapping[str, Any]) -> httpx.Response:
    """POST a notification to ``target``, following a 307 or 308 redirect (the same POST elsewhere; the
    target's ``headers``, secrets, go to its own host only). A 301, 302 or 303 is not followed: it would
    turn the POST into a GET without the body, and a 2xx to that would count as delivered what never was."""
    response = await client.post(target.url, json=target.body(payload), headers=target.headers)
    for _ in range(_MAX_REDIRECTS):
        follow = response.next_request
        if response.status_code not in (307, 308) or follow is None:
            break
        if follow.url.host != response.request.url.host:
            for name in target.headers:
                follow.headers.pop(name, None)
        response = await client.send(follow)
    return response


async def first_set(*events: asyncio.Event) -> None:
    """Return as soon as any of ``events`` is set (the background workers' stop-or-wake wait)."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
