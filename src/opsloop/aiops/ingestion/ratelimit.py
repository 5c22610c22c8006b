"""Per-sender rate limiting: a token bucket per sender, charged per item (alert, record, sample).

A sender is named by the ``X-Opsloop-Sender`` header, else Loki's/Mimir's ``X-Scope-OrgID`` tenant,
else its address. A sender over its allowance gets ``RateLimitedError`` (HTTP 429 with
``Retry-After``) *before* anything of its request is stored, so a flood from one sender cannot crowd
out the others, and what a sender was told was refused is all that it has to re-send.
"""

from __future__ import annotations

import threading
import time as _time
from collections import OrderedDict

from opsloop.errors import RateLimitedError

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, rate: float, burst_s: float = 2.0, *, max_senders: int = 10_000,
                 clock=_time.monotonic) -> None:  # noqa: ANN001
        self.rate = float(rate)
        self.capacity = max(1.0, rate * burst_s)
        self.max_senders = max_senders
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def charge(self, sender: str, items: int) -> None:
        """Take ``items`` tokens from ``sender``'s bucket or raise ``RateLimitedError``.

        A request larger than the whole bucket is allowed when the bucket is full (it then owes the
        difference), so one big but legitimate batch is never refused forever.
        """
        if items <= 0:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(sender, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= items or tokens >= self.capacity:
                tokens -= items
                self._buckets[sender] = (tokens, now)
                self._trim()
                return
            self._buckets[sender] = (tokens, now)
            self._trim()
        retry = (items - tokens) / self.rate
        raise RateLimitedError(f"sender {sender!r} is over its rate limit of {self.rate:.0f} items/s; "
                               f"retry in {retry:.1f}s", retry_after=retry)

    def check(self, sender: str) -> None:
        """Refuse a sender whose bucket is empty before spending anything on its request."""
        now = self.clock()
        with self._lock:
            state = self._buckets.get(sender)
        if state is None:
            return
        tokens = min(self.capacity, state[0] + (now - state[1]) * self.rate)
        if tokens < 1:
            retry = (1 - tokens) / self.rate
            raise RateLimitedError(f"sender {sender!r} is over its rate limit of {self.rate:.0f} items/s; "
                                   f"retry in {retry:.1f}s", retry_after=retry)

    def _trim(self) -> None:
        while len(self._buckets) > self.max_senders:
            self._buckets.popitem(last=False)
