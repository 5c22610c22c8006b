"""The background metric batcher: batches, ordering, backpressure and error surfacing (no timing)."""

from __future__ import annotations

import threading

import pytest

from opsloop.errors import InvalidStateError, StorageError
from opsloop.sdk import MetricBatcher


def _point(i: int) -> tuple[str, float, int, int]:
    return ("m", float(i), 1000 + i, i)


def test_every_point_arrives_in_order_in_batches_of_at_most_batch_size() -> None:
    batches: list[list] = []
    batcher = MetricBatcher(batches.append, batch_size=100, interval=60)
    for i in range(2345):
        batcher.add(_point(i))
    batcher.close()
    assert max(len(b) for b in batches) <= 100
    assert [p for b in batches for p in b] == [_point(i) for i in range(2345)]


def test_flush_sends_a_partial_batch_without_waiting_for_the_interval() -> None:
    batches: list[list] = []
    batcher = MetricBatcher(batches.append, batch_size=1000, interval=3600)
    batcher.add(_point(1))
    batcher.flush()
    assert batches == [[_point(1)]]
    batcher.close()


def test_add_returns_while_the_sender_is_blocked_and_waits_only_when_full() -> None:
    entered, release = threading.Event(), threading.Event()

    def send(batch: list) -> None:
        entered.set()
        release.wait(30)

    batcher = MetricBatcher(send, batch_size=10, max_pending=20, interval=3600)
    for i in range(10):
        batcher.add(_point(i))
    assert entered.wait(30)  # the sender is now stuck in the network
    for i in range(10, 20):  # these return although nothing can be sent
        batcher.add(_point(i))
    assert batcher.pending == 20

    blocked = threading.Thread(target=batcher.add, args=(_point(20),))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # the queue is full: backpressure
    release.set()
    blocked.join(30)
    assert not blocked.is_alive()
    batcher.close()


def test_sender_error_is_raised_by_the_next_add_then_logging_resumes() -> None:
    failed = threading.Event()
    sent: list[list] = []

    def send(batch: list) -> None:
        if not failed.is_set():
            failed.set()
            raise StorageError("disk full")
        sent.append(batch)

    batcher = MetricBatcher(send, batch_size=5, interval=3600)
    for i in range(5):
        batcher.add(_point(i))
    with pytest.raises(StorageError, match="disk full") as raised:
        batcher.flush()
    assert "5 metric points were not logged" in raised.value.__notes__[0]
    batcher.add(_point(99))
    batcher.close()
    assert sent == [[_point(99)]]


def test_error_of_the_last_batch_is_raised_by_close() -> None:
    def send(batch: list) -> None:
        raise StorageError("server gone")

    batcher = MetricBatcher(send, batch_size=1000, interval=3600)
    batcher.add(_point(0))
    with pytest.raises(StorageError, match="server gone"):
        batcher.close()


def test_add_after_close_is_refused() -> None:
    batcher = MetricBatcher(lambda batch: None)
    batcher.close()
    with pytest.raises(InvalidStateError, match="ended"):
        batcher.add(_point(0))


def test_points_queued_in_a_forked_child_are_reported_not_lost() -> None:
    import os

    batcher = MetricBatcher(lambda batch: None)
    pid = os.fork()
    if pid == 0:  # child: the sender thread did not survive the fork
        code = 1
        try:
            batcher.add(_point(0))
            batcher.flush()
        except StorageError as exc:
            code = 0 if "forked" in str(exc) else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    batcher.close()
