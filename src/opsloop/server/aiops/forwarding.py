"""A follower hands every AIOps request to the leader, as it came, and answers with the leader's answer.

``ForwardToLeader`` is an ASGI middleware in front of the whole app. While this process follows
(``Leadership.following``), a request that one of the AIOps routes would answer (ingestion, incidents,
signals, topology, silences, metrics, notifications, runbooks; reads too, since some read the leader's
memory) goes to the leader's Unix socket: method, path, query string, headers and body, with
``X-Opsloop-Aiops-Forwarded`` naming the original client (the sender of rate limits). The leader's
status, headers and body come back unchanged. When no leader answers (it died and no one has taken
over yet) the answer is 503 with ``Retry-After: 1``: Alertmanager, Prometheus and OTLP exporters retry.

On a shared PostgreSQL database the leader may run on another host: the request then goes to the URL
it advertises, marked ``X-Opsloop-Aiops-Via: url``, and may land on a follower there, which hands it
on over its host's socket (a request is forwarded at most once over a URL and once over a socket).

On the leader the middleware costs one attribute test per request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import httpx
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from opsloop.errors import StorageError
from opsloop.server.errors import error_body
from opsloop.server.wire import json_response

if TYPE_CHECKING:
    from opsloop.server.aiops.leader import Leadership

__all__ = ["FORWARDED_HEADER", "LEADER_URL", "VIA_HEADER", "ForwardToLeader", "is_url", "leader_client"]

log = logging.getLogger("opsloop.aiops")

FORWARDED_HEADER = "x-opsloop-aiops-forwarded"
VIA_HEADER = "x-opsloop-aiops-via"  # "url" on a request forwarded to another host's server
LEADER_URL = "http://aiops-leader"  # the host is a name only: the transport connects to the socket
_FORWARDED, _VIA = FORWARDED_HEADER.encode(), VIA_HEADER.encode()
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
                         b"trailer", b"upgrade", b"expect"})
_NOT_RETURNED = _HOP_BY_HOP | {b"date", b"server"}  # this process's server adds its own


def is_url(route: str) -> bool:
    """Whether the leader's ``route`` is its URL (on another host), not its socket's path."""
    return route.startswith(("http://", "https://"))


def leader_client(route: str) -> httpx.AsyncClient:
    """An HTTP client of the leader at ``route``, its socket's path or its URL (no proxies from the
    environment; bodies may be large)."""
    timeout = httpx.Timeout(120.0, connect=5.0)
    if is_url(route):
        return httpx.AsyncClient(base_url=route, trust_env=False, timeout=timeout)
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=route), base_url=LEADER_URL, trust_env=False,
                             timeout=timeout)


class ForwardToLeader:
    """ASGI middleware: the AIOps requests of a follower are answered by the leader.

    Args:
        app: the rest of the app.
        leadership: this process's ``Leadership``.
        routes: the routes whose requests the leader answers.
    """

    def __init__(self, app: ASGIApp, leadership: Leadership, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.leadership = leadership
        self.routes = list(routes)
        # a cheap first test: the literal start of each route's path
        self.prefixes = tuple({getattr(r, "path", "/").split("{")[0] for r in self.routes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.leadership.following or scope["type"] != "http" or not self._aiops(scope):
            await self.app(scope, receive, send)
            return
        await self._forward(scope, receive, send)

    def _aiops(self, scope: Scope) -> bool:
        if not scope["path"].startswith(self.prefixes):
            return False
        return any(route.matches(scope)[0] is not Match.NONE for route in self.routes)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        leadership = self.leadership
        client, route = leadership.client, leadership.route or ""
        remote = is_url(route)
        hops = dict(scope["headers"])
        # at most once over a URL, then once over the leader's host's socket
        looped = _FORWARDED in hops and (remote or hops.get(_VIA) != b"url")
        if client is None or looped:
            await _unavailable(leadership.unreachable if client is None else
                               "this server process does not lead the AIOps pipeline")(scope, receive, send)
            return
        request = client.build_request(scope["method"], _target(scope), headers=_headers(scope, remote),
                                       content=_body(receive) if _has_body(scope) else None)
        try:
            answer = await client.send(request, stream=True)
            try:
                body = b"".join([chunk async for chunk in answer.aiter_raw()])  # as sent: still encoded
            finally:
                await answer.aclose()
        except httpx.TransportError as exc:  # no leader, or it died meanwhile (re-sending is safe)
            log.debug("the AIOps leader did not answer %s %s: %r", scope["method"], scope["path"], exc)
            await _unavailable("no AIOps leader is answering (one is taking over); retry")(scope, receive, send)
            return
        headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in _NOT_RETURNED]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _unavailable(message: str) -> Response:
    status, body = error_body(StorageError(message))
    response = json_response(body, status)
    response.headers["Retry-After"] = "1"
    return response


def _target(scope: Scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def _headers(scope: Scope, remote: bool) -> list[tuple[bytes, bytes]]:
    """The request's headers for the leader: the original client named once (the sender of rate limits),
    and whether it goes over a URL."""
    headers = [(k, v) for k, v in scope["headers"] if k not in _HOP_BY_HOP and k != _VIA]
    if not any(k == _FORWARDED for k, _ in headers):
        client = scope.get("client")
        headers.append((_FORWARDED, (client[0] if client else "unknown").encode()))
    return headers + [(_VIA, b"url")] if remote else headers


def _has_body(scope: Scope) -> bool:
    return any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
