"""JSON calls to an opsloop server's own API (``/api/opsloop/v1``), for commands only a server answers.

Every way a call can go wrong — a malformed URL, a server that is down, a redirect, an error answer,
another web server answering HTML at that address — is an ``OpsloopError`` with a message for people.
"""

from __future__ import annotations

import re
from typing import Any

import click

from opsloop.errors import InvalidInputError, OpsloopError, StorageError

__all__ = ["checked_url", "server_json"]

_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d+(/.*)?")


def checked_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback of a ``--url`` option: an http(s) URL that cannot be parsed (``http://[::1``,
    ``http://host:port``, ``http://``) is refused where it is given, as a usage error naming the option.

    Other schemes pass through: the top-level ``--url`` may be an MLflow store URI (``sqlite:…``); a host and
    port without a scheme (``localhost:5000``, which reads as the scheme ``localhost``) is refused, saying the
    URL it likely means.
    """
    if value and _HOST_PORT.fullmatch(value):
        raise click.BadParameter(f"{value!r} has no scheme: give the server as http://{value}", ctx, param)
    if not value or not value.startswith(("http://", "https://")):
        return value
    import httpx

    try:
        host = httpx.URL(value).host
    except httpx.InvalidURL as exc:
        raise click.BadParameter(f"{value!r} is not a valid URL: {exc}", ctx, param) from None
    if not host:
        raise click.BadParameter(f"{value!r} names no host", ctx, param)
    return value


def server_json(base_url: str, method: str, path: str, *, timeout: float = 30.0, **kwargs: Any) -> dict[str, Any]:
    """The JSON object ``base_url + path`` answers.

    Raises:
        InvalidInputError: ``base_url`` is not a URL (``field="url"``).
        StorageError: the server cannot be reached.
        OpsloopError: an error answer (with the server's message and field), a redirect, or an answer that is
            not a JSON object.
    """
    import httpx

    base = base_url.rstrip("/")
    try:
        resp = httpx.request(method, base + path, timeout=timeout, **kwargs)
    except httpx.InvalidURL as exc:
        raise InvalidInputError(f"{base_url!r} is not a valid server URL: {exc}", field="url") from None
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot reach {base_url}: {exc}") from None
    if 300 <= resp.status_code < 400:  # e.g. a proxy sending http:// to https://: actions must not follow it
        raise OpsloopError(f"{base_url} answered HTTP {resp.status_code}, redirecting to "
                           f"{resp.headers.get('location', '?')}: give that server's URL")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code >= 400:
        if isinstance(body, dict) and isinstance(body.get("message") or body.get("detail"), str):
            field = body.get("field")
            raise OpsloopError(body.get("message") or body["detail"], field=field if isinstance(field, str) else None)
        raise OpsloopError(f"{base_url} answered HTTP {resp.status_code} to {method} {path}: {resp.text[:200]}")
    if not isinstance(body, dict):
        what = "not JSON" if body is None else "JSON but not an object"
        raise OpsloopError(f"the answer of {base_url} is {what} "
                           f"({resp.headers.get('content-type') or 'no content type'}): is it an opsloop server?")
    return body
