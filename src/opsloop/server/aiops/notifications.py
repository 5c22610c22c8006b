"""Notification targets, the outbox, dead letters and their replay; plus the other pipeline settings
(metric watch rules, Prometheus pull queries)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.aiops import config_secrets
from opsloop.aiops.correlation.inhibition import RULE_KEYS as INHIBIT_RULE_KEYS
from opsloop.aiops.incidents.notifications import TARGET_KEYS, URL_MASK, mask_url
from opsloop.aiops.ingestion.metric_rules import RULE_KEYS
from opsloop.aiops.ingestion.prometheus_pull import QUERY_KEYS
from opsloop.core.signals import SEVERITY_ALIASES
from opsloop.errors import InvalidInputError
from opsloop.server.aiops._common import actor_of, choices, pipeline
from opsloop.server.params import BodyId, Offset, QueryId
from opsloop.server.wire import json_response

__all__ = ["refuse_unknown_keys", "router"]

router = APIRouter(prefix="/api/opsloop/v1", tags=["notifications"])


class ReplayBody(BaseModel):
    ids: list[BodyId] | None = None
    actor: str | None = None


@router.get("/notifications/targets", summary="Notification targets")
async def get_targets(request: Request) -> Response:
    return json_response({"targets": [t.to_dict() for t in pipeline(request).router.targets]})


@router.put("/notifications/targets", summary="Replace the notification targets",
            description='[{"name": "oncall", "url": "https://…", "format": "json|slack", '
                        '"matchers": [\'service="checkout"\'], "min_severity": "error", "events": ["opened", "resolved"]}]')
async def put_targets(request: Request, targets: list[dict[str, Any]]) -> Response:
    await _put(request, "notification_targets", targets)
    return json_response({"targets": [t.to_dict() for t in pipeline(request).router.targets]})


@router.get("/notifications", summary="The outbox: pending, delivered, dead and superseded notifications")
async def list_notifications(request: Request, state: str | None = Query(None, description="pending, delivered, dead, superseded (comma-separated)"),
                             incident_id: QueryId = None, limit: int = Query(200, ge=1, le=1000),
                             offset: Offset = 0) -> Response:
    state = choices(state, ("pending", "delivered", "dead", "superseded"), "state")
    rows = await run_in_threadpool(pipeline(request).stores.ops.notifications, state, limit, incident_id, offset)
    return json_response({"notifications": rows})


@router.post("/notifications/replay", summary="Re-queue dead letters (all, or the given ids)",
             description="A dead letter whose incident has had a later event delivered to the same target since is "
                         "`superseded` instead (sending it now would deliver the incident's events out of order).")
async def replay(request: Request, body: ReplayBody | None = None) -> Response:
    p = pipeline(request)
    body = body or ReplayBody()
    if body.ids == []:  # nothing ticked: nothing to replay (the store reads no ids as all of them)
        return json_response({"replayed": 0, "superseded": 0})
    count, superseded = await run_in_threadpool(p.stores.ops.replay, body.ids, p.clock())
    with p.stores.db.write() as conn:
        p.stores.incidents.audit(conn, actor_of(request, body.actor), "replay", "notifications",
                                 ",".join(map(str, body.ids or []))[:64] or "all",
                                 {"count": count, "superseded": superseded})
    p.dispatcher.wake.set()
    return json_response({"replayed": count, "superseded": superseded})


@router.get("/aiops/detection", summary="The metric detection rules at work",
            description="Per `watch_rules` rule the series it watches, per `service_rules` rule the groups, the "
                        "error that stopped one (`failed`), stored rules that no longer load (`left_out`) and the "
                        "time of the last checkpoint.")
async def detection_status(request: Request) -> Response:
    return json_response(await run_in_threadpool(pipeline(request).detection_status))


@router.get("/aiops/prometheus", summary="The Prometheus pull queries and how their pulls went")
async def prometheus_status(request: Request) -> Response:
    scheduler = getattr(request.app.state, "prometheus_pull", None)
    if scheduler is None:
        return json_response({"queries": []})
    return json_response({"queries": await run_in_threadpool(scheduler.status)})


@router.get("/aiops/config/{key}", summary="A pipeline setting: watch_rules, prometheus_queries, …",
            description="Secret values (notification target `headers`, runbook `env`) show as `***`; a "
                        "notification target's `url` shows its scheme and host only (`https://hooks.slack.com/***`).")
async def get_config(request: Request, key: str) -> Response:
    value = await run_in_threadpool(pipeline(request).get_config, key)
    return json_response({key: _shown(key, value)})


@router.put("/aiops/config/{key}", summary="Replace a pipeline setting",
            description="Keys: `watch_rules` (metric detectors per series selector), `service_rules` "
                        "(a multivariate detector over each service's metrics), `prometheus_queries` "
                        "(query_range pulls), `inhibit_rules`, `notification_targets`, `metric_rules`, "
                        "`runbooks`. A secret sent back as `***` (as GET shows it) keeps its stored value, and so "
                        "does a target `url` sent back masked.")
async def put_config(request: Request, key: str, value: list[dict[str, Any]]) -> Response:
    return json_response({key: _shown(key, await _put(request, key, value))})


def _shown(key: str, value: Any) -> Any:
    """Setting ``key`` as answers show it: secrets as ``***``, notification target URLs masked."""
    shown = config_secrets.mask(key, value)
    if key == "notification_targets" and isinstance(shown, list):
        for item in shown:
            if isinstance(item, dict) and isinstance(item.get("url"), str):
                item["url"] = mask_url(item["url"])
    return shown


def _restore_urls(key: str, value: list[Any], stored: list[Any]) -> list[Any]:
    """``value`` with each target URL sent back masked (as answers show it) replaced by the stored URL of
    the target of that name it stands for; a masked URL standing for none is refused."""
    if key != "notification_targets":
        return value
    urls = {t.get("name"): t.get("url") for t in stored if isinstance(t, dict) and isinstance(t.get("url"), str)}
    out = []
    for i, item in enumerate(value):
        url = item.get("url") if isinstance(item, dict) else None
        if isinstance(url, str) and url.endswith("/" + URL_MASK):
            name = item.get("name")
            before = urls.get(name) if isinstance(name, str) else None
            if before is None or mask_url(before) != url:
                raise InvalidInputError(f"{key}[{i}]: the masked url {url!r} stands for no stored url of target "
                                        f"{name!r}; send the url itself", field="url")
            item = {**item, "url": before}
        out.append(item)
    return out


# the keys of each item of these documents: a misspelt one is refused (a target whose ``matchers`` is
# misspelt would be sent every incident); stored documents are still read as they are
_ITEM_KEYS = {"notification_targets": TARGET_KEYS, "prometheus_queries": QUERY_KEYS, "metric_rules": RULE_KEYS,
              "inhibit_rules": INHIBIT_RULE_KEYS}


def refuse_unknown_keys(key: str, value: list[Any]) -> None:
    allowed = _ITEM_KEYS.get(key, frozenset())
    for i, item in enumerate(value if allowed else ()):
        unknown = sorted(set(item) - allowed) if isinstance(item, dict) else []
        if unknown:
            raise InvalidInputError(f"{key}[{i}]: unknown key {unknown[0]!r} (expected among "
                                    f"{', '.join(sorted(allowed))})", field=unknown[0])


def _refuse_misread_targets(key: str, value: list[Any]) -> None:
    """What a target document would be read as otherwise (stored targets are still read so): a
    ``min_severity`` that is no severity reads as a warning (a misspelt ``critical`` would page for every
    warning), and an empty ``events`` as every event; and what no notification could be sent with."""
    for i, item in enumerate(value if key == "notification_targets" else ()):
        if not isinstance(item, dict):
            continue
        if item.get("events") == []:
            raise InvalidInputError(f"{key}[{i}]: events is empty (leave it out for every event)", field="events")
        _refuse_unsendable(f"{key}[{i}]", item)
        word = item.get("min_severity")
        if word is None or (isinstance(word, int) and 1 <= word <= 4):
            continue
        if not isinstance(word, str) or word.strip().lower() not in SEVERITY_ALIASES:
            raise InvalidInputError(f"{key}[{i}]: min_severity {word!r} is not a severity (expected info, warning, "
                                    "error or critical)", field="min_severity")


def _refuse_unsendable(where: str, target: dict[str, Any]) -> None:
    """A target ``url`` or ``headers`` no notification could be sent with (each one a dead letter, found only
    once an incident needed it), or an ``Authorization`` header the url's user would silently replace."""
    found = target.get("headers")
    headers: dict[str, Any] = found if isinstance(found, dict) else {}
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(str(name)) or (isinstance(value, str) and not _HEADER_VALUE.fullmatch(value)):
            raise InvalidInputError(f"{where}: header {name!r} cannot be sent: a name is letters, digits and "
                                    "!#$%&'*+-.^_`|~, a value printable ASCII (no line breaks)", field="headers")
    url = target.get("url")
    if not isinstance(url, str):
        return
    if not _deliverable(url):
        raise InvalidInputError(f"{where}: url is not an http(s) URL with a host (and a port from 1 to 65535) that "
                                "a notification could be posted to", field="url")
    if "@" in urlsplit(url).netloc and any(str(n).lower() == "authorization" for n in headers):
        raise InvalidInputError(f"{where}: the url's user and password would replace the Authorization header; "
                                "give one of them", field="headers")


# what an HTTP/1.1 header may hold (RFC 9110 tokens; values of visible ASCII, spaces and tabs)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _deliverable(url: str) -> bool:
    """Whether ``url`` names a place to post to: an http(s) URL with a host, a valid port and no spaces
    (else every notification to it would be a dead letter, found only once an incident needed it)."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


async def _put(request: Request, key: str, value: list[Any]) -> Any:
    p = pipeline(request)
    refuse_unknown_keys(key, value)
    _refuse_misread_targets(key, value)

    def put() -> Any:
        with p.lock:  # read and replace as one step, so a concurrent writer's secrets are not mixed in
            stored = p.stores.ops.get_config(key, []) or []
            restored = config_secrets.restore(key, _restore_urls(key, value, stored), stored)
            return p.set_config(key, restored, actor_of(request))

    return await run_in_threadpool(put)
