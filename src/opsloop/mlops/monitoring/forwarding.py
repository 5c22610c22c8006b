"""Deliver a served model's drift and performance signals to an opsloop server's AIOps pipeline.

This is the loop's link from MLOps to operations: ``opsloop serve --report-to URL`` (or the CLI's
``--url``) posts every signal its monitor emits to ``URL/api/opsloop/v1/events``, where it groups into
incidents like any alert, and can start a ``retrain`` runbook. Delivery is off the monitoring path (a
background thread), in order, retried with backoff while the server is unreachable or answers 5xx/429;
a refused batch (4xx) is logged and dropped, since sending it again cannot succeed. The queue is bounded:
past ``max_queue`` signals the oldest are dropped (counted in ``dropped``). The signals also stay in the
monitoring store, so nothing is lost to the model's own ``/monitoring/signals``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

import httpx

from opsloop.core.signals import Signal

__all__ = ["SignalForwarder"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/opsloop/v1/events"
_BATCH = 500


class SignalForwarder:
    """A background sender of signals to an opsloop server's events API.

    Args:
        url: the opsloop server (``http://host:port``).
        timeout: seconds per request.
        max_queue: signals kept while the server is unreachable (the oldest go first past it).
        backoff, max_backoff: seconds before the first retry, doubling up to ``max_backoff``.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, max_queue: int = 10_000, backoff: float = 0.5,
                 max_backoff: float = 60.0) -> None:
        self.url = url.rstrip("/") + EVENTS_PATH
        self.timeout, self.backoff, self.max_backoff = timeout, backoff, max_backoff
        self.sent = self.dropped = self.refused = 0
        self._queue: deque[dict] = deque(maxlen=max_queue)
        self._cv = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def send(self, signals: Sequence[Signal]) -> None:
        """Queue ``signals`` for delivery (returns at once)."""
        if not signals:
            return
        with self._cv:
            for s in signals:
                if len(self._queue) == self._queue.maxlen:
                    self.dropped += 1
                self._queue.append(s.to_dict())
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self._queue)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-signal-forwarder", daemon=True)
            self._thread.start()

    def stop(self, flush_timeout: float = 5.0) -> None:
        """Deliver what is queued (for at most ``flush_timeout`` seconds), then stop."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(flush_timeout)

    def _run(self) -> None:
        delay = self.backoff
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                with self._cv:
                    while not self._queue and not self._stopping:
                        self._cv.wait()
                    if not self._queue:
                        return
                    batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
                if self._post(client, batch):
                    with self._cv:  # delivered (or refused for good): off the queue, oldest first
                        for _ in batch:
                            if self._queue:
                                self._queue.popleft()
                    delay = self.backoff
                    continue
                with self._cv:
                    if self._stopping:
                        return  # the server stayed unreachable: what is left stays in the monitoring store
                    self._cv.wait(delay)
                delay = min(delay * 2, self.max_backoff)

    def _post(self, client: httpx.Client, batch: list[dict]) -> bool:
        """True when the batch is done with (delivered, or refused for good); False to retry it."""
        try:
            r = client.post(self.url, json={"events": batch})
        except httpx.HTTPError as exc:
            log.warning("cannot deliver %d signal(s) to %s yet: %s", len(batch), self.url, exc)
            return False
        if r.status_code >= 500 or r.status_code == 429:
            log.warning("%s answered %d; %d signal(s) will be sent again", self.url, r.status_code, len(batch))
            return False
        if r.status_code >= 400:  # the valid ones of a partly refused batch are stored (``accepted``)
            accepted = _accepted(r)
            self.sent += accepted
            self.refused += len(batch) - accepted
            log.error("%s refused %d signal(s): %s", self.url, len(batch) - accepted, r.text[:500])
            return True
        self.sent += len(batch)
        return True


def _accepted(response: httpx.Response) -> int:
    try:
        body = response.json()
    except ValueError:
        return 0
    accepted = body.get("accepted") if isinstance(body, dict) else None
    return accepted if isinstance(accepted, int) and not isinstance(accepted, bool) and accepted >= 0 else 0
