"""Alertmanager's API v2, read side: the alerts opsloop holds firing, receivers, a status, and silences.

With opsloop in ``alerting.alertmanagers`` (see ``POST /api/v2/alerts``), the tools that read an
Alertmanager read opsloop the same way: Grafana's Alertmanager data source (its health check asks
``/api/v2/status``; its alert list ``/api/v2/alerts/groups``; its contact points
``/api/v2/receivers``) and ``amtool alert query`` (``/api/v2/alerts``). Every firing alert-like signal is listed, whatever sent it (webhooks, Prometheus,
OTLP, opsloop's own detectors and monitors), with Alertmanager's fields; one muted by a silence or a
maintenance window is ``suppressed`` with that silence in ``silencedBy``, one muted by an inhibition
with its reason in ``inhibitedBy``. A group is an opsloop incident (label ``incident``); firing alerts
in no incident form one group with no labels. Silences are opsloop's (``/api/opsloop/v1/silences``)
under Alertmanager's shapes: ``amtool silence add|query|expire`` and Grafana's silence pages work on
them (a silence's id is opsloop's number, as text). A bad parameter or body is a 400 whose body is a
JSON string naming it, as Alertmanager answers (``amtool`` prints it).
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop import __version__
from opsloop.aiops.correlation.silences import Matcher, parse_matchers, silence_matchers
from opsloop.aiops.incidents.engine import INHIBITED, MUTED_BY
from opsloop.aiops.ingestion.alertmanager import RESOLVE_TIMEOUT_S
from opsloop.aiops.ingestion.normalise import load_json, parse_time
from opsloop.core.signals import Severity, Signal
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.server.aiops._common import actor_of, pipeline, raw_body
from opsloop.server.wire import json_response
from opsloop.storage.sql.signals import STATEFUL_KINDS

__all__ = ["router"]

router = APIRouter(tags=["ingestion"])

_STARTED = time.time()
_RECEIVER = "opsloop"
# the most firing signals listed (newest first)
_MAX_ALERTS = 10_000

_BOOL = {"true": True, "1": True, "false": False, "0": False}
_KINDS = ",".join(STATEFUL_KINDS)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return True
    flag = _BOOL.get(value.strip().lower())
    if flag is None:
        raise InvalidInputError(f"{name} must be true or false, not {value!r}", field=name)
    return flag


def _matchers(filters: list[str]) -> list[Matcher]:
    try:
        return [m for f in filters for m in parse_matchers(f)]
    except InvalidInputError as exc:
        raise InvalidInputError(f"filter: {exc.message}", field="filter") from None


def _inhibited_in_incident(p: Any, row: dict[str, Any]) -> str:
    """Why a firing alert that was inhibited when it came, and so joined its root's incident as evidence
    rather than opening one (nothing in ``suppressed``), is inhibited still; ``""`` when it is not (its
    source resolved), as Alertmanager shows an alert inhibited only while its source fires."""
    reasons = (row.get("grouping") or {}).get("reasons") or []
    if row["suppressed"] or not any(str(r).startswith(INHIBITED) for r in reasons):
        return ""
    sig = Signal(time=row["time"], source=row["source"], kind=row["kind"], service=row["service"],
                 labels=row["labels"], severity=Severity.parse(row["severity"]), text=row["text"])
    with p.lock:  # the inhibitor's state changes as signals come
        return p.engine.inhibitor.check(sig, row["fingerprint"]) or ""


def _gettable(row: dict[str, Any], live_end: float | None = None) -> dict[str, Any]:
    """A stored firing signal as Alertmanager's ``gettableAlert``; ``live_end``: the end its sender's
    latest post set (the stored one is the first post's)."""
    evidence, muted = row["evidence"], row["suppressed"] or ""
    silenced = [muted.split(":", 1)[1]] if muted.startswith(MUTED_BY) else []
    inhibited = [muted] if muted and not silenced else []
    end = live_end if live_end is not None else evidence.get("expires_at")
    if not isinstance(end, int | float):  # an alert without an end of its own: as Alertmanager's resolve_timeout
        end = row["last_time"] + RESOLVE_TIMEOUT_S
    annotations = evidence.get("annotations")
    return {
        "labels": row["labels"],
        "annotations": annotations if isinstance(annotations, dict) else ({"summary": row["text"]} if row["text"] else {}),
        "startsAt": _iso(row["time"]),
        "updatedAt": _iso(row["last_time"]),
        "endsAt": _iso(float(end)),
        "fingerprint": str(evidence.get("fingerprint") or row["fingerprint"]),
        "generatorURL": str(evidence.get("generatorURL") or ""),
        "receivers": [{"name": str(evidence.get("receiver") or _RECEIVER)}],
        "status": {"state": "suppressed" if muted else "active", "silencedBy": silenced, "inhibitedBy": inhibited,
                   "mutedBy": []},
    }


def _receiver(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)  # anchored by ``fullmatch``: ``(?i)ops.*`` is taken, as in Alertmanager
    except re.error as exc:
        raise InvalidInputError(f"receiver: bad regex {pattern!r}: {exc}", field="receiver") from None


def _as_alertmanager(work: Any, *args: Any) -> Any:
    """``work(*args)``, with opsloop's errors as Alertmanager's (a JSON string body, 400 or 404)."""
    try:
        return work(*args)
    except InvalidInputError as exc:
        return json_response(exc.message, 400)
    except NotFoundError as exc:
        return json_response(exc.message, 404)


_Found = list[tuple[int | None, dict[str, Any]]]


def _firing(request: Request, active: str | None, silenced: str | None, inhibited: str | None,
            filters: list[str], receiver: str | None) -> _Found:
    """The firing signals that pass Alertmanager's query parameters, as ``gettableAlert``s, oldest first,
    each with its incident."""
    show_active, show_silenced = _flag(active, "active"), _flag(silenced, "silenced")
    show_inhibited, matchers, to = _flag(inhibited, "inhibited"), _matchers(filters), _receiver(receiver)
    p = pipeline(request)
    rows = p.stores.signals.list(kind=_KINDS, status="firing", limit=_MAX_ALERTS)
    out = []
    for row in reversed(rows):
        row["suppressed"] = muted = row["suppressed"] or _inhibited_in_incident(p, row)
        shown = (show_silenced if muted.startswith(MUTED_BY) else show_inhibited) if muted else show_active
        view = {"service": row["service"] or "", **row["labels"]}  # ``service`` as silences match it
        if shown and all(m.matches(view) for m in matchers):
            alert = _gettable(row, p.expiry.end_of(row["fingerprint"]))
            if to is None or any(to.fullmatch(r["name"]) for r in alert["receivers"]):
                out.append((row["incident_id"], alert))
    return out


async def _found(
    request: Request,
    active: str | None = Query(None, description="list alerts that fire and are not muted (default true)"),
    silenced: str | None = Query(None, description="list alerts muted by a silence or maintenance window "
                                                   "(default true)"),
    inhibited: str | None = Query(None, description="list alerts muted by an inhibition (default true)"),
    filters: list[str] = Query([], alias="filter",
                               description='matchers the alerts\' labels must pass, e.g. filter=service="db"'),
    receiver: str | None = Query(None, description="a regex the receiver's name must match"),
) -> _Found | Response:
    """The alerts Alertmanager's query parameters select (``_firing``, off the event loop), or
    Alertmanager's 400 (a JSON string) for a bad parameter; both list endpoints depend on it."""
    return await run_in_threadpool(_as_alertmanager, _firing, request, active, silenced, inhibited, filters, receiver)


@router.get("/api/v2/alerts", summary="Alertmanager's API: the firing alerts (amtool alert query)")
async def list_alerts(found: _Found | Response = Depends(_found)) -> Response:
    if isinstance(found, Response):
        return found
    return json_response([alert for _, alert in found])


@router.get("/api/v2/alerts/groups", summary="Alertmanager's API: the firing alerts by incident (Grafana)")
async def alert_groups(found: _Found | Response = Depends(_found)) -> Response:
    if isinstance(found, Response):
        return found
    groups: dict[int | None, list[dict[str, Any]]] = {}
    for incident_id, alert in found:
        groups.setdefault(incident_id, []).append(alert)
    return json_response([{"labels": {"incident": str(incident)} if incident is not None else {},
                           "receiver": {"name": _RECEIVER}, "alerts": alerts}
                          for incident, alerts in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))])


@router.get("/api/v2/receivers", summary="Alertmanager's API: the receivers (opsloop and its notification targets)")
async def receivers(request: Request) -> Response:
    return json_response([{"name": name} for name in (_RECEIVER, *(t.name for t in pipeline(request).router.targets))])


@router.get("/api/v2/status", summary="Alertmanager's API: status (Grafana's data source health check)")
async def status() -> Response:
    return json_response({
        "cluster": {"name": "", "status": "disabled", "peers": []},
        "versionInfo": {"version": __version__, "revision": "", "branch": "", "buildUser": "", "buildDate": "",
                        "goVersion": "none (opsloop)"},
        "config": {"original": ""},
        "uptime": _iso(_STARTED),
    })


# --- silences ----------------------------------------------------------------------------------------
def _gettable_silence(silence: dict[str, Any]) -> dict[str, Any]:
    """An opsloop silence (``Pipeline.silences``) as Alertmanager's ``gettableSilence`` (matchers as
    ``{name, value, isRegex, isEqual}``)."""
    return {"id": str(silence["id"]), "status": {"state": silence["state"]}, "updatedAt": _iso(silence["created_at"]),
            "matchers": [m.to_dict() for m in parse_matchers(silence["matchers"])],
            # one expired before its start started when it ended, as Alertmanager shows it
            "startsAt": _iso(min(silence["starts_at"], silence["ends_at"])), "endsAt": _iso(silence["ends_at"]),
            "createdBy": silence["created_by"], "comment": silence["comment"]}


_STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


def _silence_order(silence: dict[str, Any]) -> tuple[int, float]:
    """Alertmanager's order of silences (``amtool silence query`` prints them so): the active ones ending
    first, then the pending ones starting first, then the expired ones, the latest ended first."""
    state = silence["state"]
    when = {"active": silence["ends_at"], "pending": silence["starts_at"]}.get(state, -silence["ends_at"])
    return _STATE_ORDER.get(state, 3), when


def _silence_doc(body: Any) -> dict[str, Any]:
    """An Alertmanager ``postableSilence`` as the body of opsloop's silences API."""
    if not isinstance(body, dict):
        raise InvalidInputError("body: a silence must be a JSON object", field="body")
    for name in ("matchers", "startsAt", "endsAt"):
        if name not in body:
            raise InvalidInputError(f"{name}: missing", field=name)
    times = {}
    for name in ("startsAt", "endsAt"):
        if not isinstance(body[name], str):
            raise InvalidInputError(f"{name}: must be an RFC 3339 time", field=name)
        times[name] = parse_time(body[name], name)
    silence_matchers(body["matchers"])  # Alertmanager's rules: at least one, not all matching ""
    return {"matchers": body["matchers"], "starts_at": times["startsAt"], "ends_at": times["endsAt"],
            "created_by": str(body.get("createdBy") or ""), "comment": str(body.get("comment") or "")}


def _silence_id(text: str) -> int:
    if not text.isdecimal() or len(text) > 18:
        raise NotFoundError(f"silence {text!r} not found")
    return int(text)


def _stored_silence(p: Any, silence_id: str) -> dict[str, Any]:
    """The stored silence (ended ones too) of an id given as text, else ``NotFoundError``."""
    wanted = _silence_id(silence_id)
    for s in p.silences(True):
        if s["id"] == wanted:
            return s
    raise NotFoundError(f"silence {silence_id!r} not found")


@router.get("/api/v2/silences", summary="Alertmanager's API: the silences (amtool silence query)")
async def list_silences(request: Request, filters: list[str] = Query([], alias="filter")) -> Response:
    def work() -> Response:
        # as Alertmanager: a silence passes a filter when each of its matchers is one of the silence's (same
        # name, operator and value), not when it matches the values of the silence's matchers as labels
        wanted = [m.to_dict() for m in _matchers(filters)]
        stored = sorted(pipeline(request).silences(True), key=_silence_order)
        silences = [_gettable_silence(s) for s in stored]
        return json_response([s for s in silences if all(m in s["matchers"] for m in wanted)])

    return await run_in_threadpool(_as_alertmanager, work)


@router.post("/api/v2/silences", summary="Alertmanager's API: create (or, with an id, replace) a silence")
async def post_silence(request: Request) -> Response:
    body = await raw_body(request)

    def work() -> Response:
        payload = load_json(body)
        doc, p = _silence_doc(payload), pipeline(request)
        actor = actor_of(request, doc["created_by"])
        replaced = _stored_silence(p, str(payload["id"])) if payload.get("id") else None
        if replaced is not None:  # Alertmanager's silence has no kind: a maintenance window stays one
            doc["kind"] = replaced["kind"]
        made = p.add_silence(doc, actor)  # a bad silence is refused before the one it replaces ends
        if replaced is not None:  # Alertmanager replaces a silence by expiring it and creating another
            p.expire_silence(replaced["id"], actor)
        return json_response({"silenceID": str(made["id"])})

    return await run_in_threadpool(_as_alertmanager, work)


@router.get("/api/v2/silence/{silence_id}", summary="Alertmanager's API: one silence")
async def get_silence(request: Request, silence_id: str) -> Response:
    def work() -> Response:
        return json_response(_gettable_silence(_stored_silence(pipeline(request), silence_id)))

    return await run_in_threadpool(_as_alertmanager, work)


@router.delete("/api/v2/silence/{silence_id}", summary="Alertmanager's API: expire a silence now")
async def delete_silence(request: Request, silence_id: str) -> Response:
    def work() -> Response:
        pipeline(request).expire_silence(_silence_id(silence_id), actor_of(request))
        return Response(status_code=200)

    return await run_in_threadpool(_as_alertmanager, work)
