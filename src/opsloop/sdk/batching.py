"""Metric points queued by the training loop and sent in batches by a background thread.

``add`` only appends to a bounded in-memory queue; it waits only when the queue is full
(backpressure: the network is slower than the loop). A sender thread takes what is queued and
sends it in batches of at most ``batch_size``. A failed send is never dropped silently: the
error is raised by the next ``add``/``flush``/``close`` call, with a note saying how many points
were not logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from opsloop.errors import InvalidStateError, StorageError
from opsloop.sdk.transports.base import Point

__all__ = ["MetricBatcher"]


class MetricBatcher:
    """Background batching of metric points.

    Args:
        send: sends one batch (called on the sender thread; raising marks the batch as lost).
        batch_size: most points per ``send`` call (MLflow's log-batch limit is 1000).
        max_pending: most points queued or in flight before ``add`` waits.
        interval: longest time in seconds a point waits before it is sent.
    """

    def __init__(self, send: Callable[[list[Point]], None], *, batch_size: int = 1000,
                 max_pending: int = 100_000, interval: float = 1.0, name: str = "opsloop-metrics") -> None:
        self._send = send
        self._batch_size = batch_size
        self._max_pending = max(max_pending, batch_size)
        self._interval = interval
        # re-entrant so that ``held_here`` can tell whether a signal handler interrupted this thread inside a
        # critical section (a wait releases it)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._pending: list[Point] = []
        self._in_flight = 0
        self._flush_waiters = 0
        self._closed = False
        self._error: BaseException | None = None
        self._lost = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- producer side (the training loop) ----------------------------------------------------------
    def add(self, point: Point) -> None:
        """Queue one point; returns at once unless the queue is full."""
        with self._cond:
            if self._error is not None or self._closed:
                self._raise_error_or_closed()
            pending = self._pending
            if len(pending) + self._in_flight >= self._max_pending:
                self._wait_for_room()
                pending = self._pending
            pending.append(point)
            if len(pending) == self._batch_size:
                self._cond.notify_all()

    def add_many(self, points: Iterable[Point]) -> None:
        """Queue several points under one lock."""
        points = list(points)
        with self._cond:
            if self._error is not None or self._closed:
                self._raise_error_or_closed()
            if len(self._pending) + self._in_flight + len(points) > self._max_pending:
                self._wait_for_room()
            self._pending.extend(points)
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def flush(self) -> None:
        """Wait until every queued point is sent; raise the sender's error if a batch failed."""
        with self._cond:
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while (self._pending or self._in_flight) and self._thread.is_alive():
                    self._cond.wait(0.5)
            finally:
                self._flush_waiters -= 1
            self._check_sender_alive()
            if self._error is not None:
                self._raise_error_or_closed()

    def close(self) -> None:
        """Send what is queued, stop the sender thread, and raise its error if a batch failed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()
        with self._cond:
            self._check_sender_alive()
            if self._error is not None:
                self._raise_error_or_closed()

    @property
    def closed(self) -> bool:
        return self._closed

    def held_here(self) -> bool:
        """Whether the calling thread holds the queue's lock (e.g. a signal handler interrupted it in ``add``)."""
        return bool(self._lock._is_owned())  # type: ignore[attr-defined] # C RLock's, untyped in typeshed

    @property
    def pending(self) -> int:
        """Points queued or being sent."""
        with self._cond:
            return len(self._pending) + self._in_flight

    def _check_sender_alive(self) -> None:
        """Points queued with no sender thread (e.g. in a forked child process) are an error, not a loss."""
        stuck = len(self._pending) + self._in_flight
        if stuck and not self._thread.is_alive() and self._error is None:
            self._pending, self._in_flight = [], 0
            self._error, self._lost = StorageError(
                "metric points were queued but the background sender is not running "
                "(a forked child process cannot use its parent's run)"), stuck

    def _wait_for_room(self) -> None:
        self._cond.notify_all()
        while (len(self._pending) + self._in_flight >= self._max_pending and self._error is None
               and self._thread.is_alive()):
            self._cond.wait(0.5)
        if self._error is not None:
            self._raise_error_or_closed()

    def _raise_error_or_closed(self) -> None:
        error, lost = self._error, self._lost
        if error is None:
            raise InvalidStateError("cannot log metrics: the run has ended")
        self._error, self._lost = None, 0
        error.add_note(f"opsloop: raised by the background metric sender; {lost} metric points were not logged")
        raise error

    # -- sender thread ------------------------------------------------------------------------------
    def _ready(self, timed_out: bool) -> bool:
        if len(self._pending) >= self._batch_size:
            return True
        if self._pending and (timed_out or self._flush_waiters or self._closed):
            return True
        return self._closed and not self._pending

    def _take(self) -> list[Point] | None:
        """Wait for work; returns the points to send, or None when closed and drained."""
        with self._cond:
            deadline = time.monotonic() + self._interval
            while not self._ready(timed_out=time.monotonic() >= deadline):
                remaining = deadline - time.monotonic()
                if remaining <= 0:  # nothing queued when the interval ran out: start a new one
                    deadline = time.monotonic() + self._interval
                    remaining = self._interval
                self._cond.wait(remaining)
            if not self._pending:
                return None
            batch, self._pending = self._pending, []
            self._in_flight = len(batch)
            return batch

    def _send_chunk(self, chunk: list[Point]) -> None:
        if self._error is None:
            try:
                self._send(chunk)
            except BaseException as exc:  # noqa: BLE001 - surfaced to the caller, never swallowed
                with self._cond:
                    if self._error is None:
                        self._error = exc
                    self._lost += len(chunk)
        else:  # a batch already failed: drop until the caller has seen the error, then resume
            with self._cond:
                self._lost += len(chunk)
        with self._cond:
            self._in_flight -= len(chunk)
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                size = self._batch_size
                for start in range(0, len(batch), size):
                    self._send_chunk(batch[start:start + size])
        except BaseException as exc:  # noqa: BLE001 - a bug here must not hang the training loop
            with self._cond:
                self._error = self._error or exc
                self._lost += len(self._pending) + self._in_flight
                self._pending, self._in_flight = [], 0
                self._cond.notify_all()
