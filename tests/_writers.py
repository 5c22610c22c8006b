"""A writer that keeps posting until stopped, for the tests that kill a server mid-write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["post_until_stopped"]


def post_until_stopped(url: str, path: str, body: Callable[[int], Any], acked: list[int],
                       stop: threading.Event, timeout: float = 10.0) -> None:
    """Post ``body(i)`` for i = 0, 1, … until stopped or the server is gone; record each i answered 200."""
    with httpx.Client(base_url=url, timeout=timeout) as c:
        i = 0
        while not stop.is_set():
            try:
                r = c.post(path, json=body(i))
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                acked.append(i)
            i += 1
