"""Every operator change that queues a notification wakes the dispatcher: it is delivered at once, not at
the dispatcher's next look at the outbox (here an hour away, so only a wake delivers it in the test)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.aiops.incidents.test_incident_notifications import Receiver, wait
from tests.conftest import free_port

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Signal, SignalKind
from opsloop.storage.sql import open_database
from opsloop.storage.sql.incidents import AiopsStores


def _alert(service: str, at: float) -> Signal:
    return Signal(time=at, source="am", kind=SignalKind.ALERT, service=service, labels={"alertname": "Down"},
                  text=f"{service} down")


@pytest.fixture
def woken(tmp_path: Path) -> Iterator[tuple[Pipeline, Receiver]]:
    """A pipeline whose dispatcher runs in its own loop and thread (as in the server), looking at the
    outbox once an hour unless woken; and the receiver its one target posts to."""
    p = Pipeline(AiopsStores(open_database(f"sqlite:///{tmp_path / 'w.db'}")), mine_logs=False)
    rx = Receiver(free_port())
    p.set_config("notification_targets", [{"name": "oncall", "url": f"http://127.0.0.1:{rx.port}/"}])
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(p.dispatcher.run(stop, idle_s=3600),))
    thread.start()
    try:
        yield p, rx
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
        rx.close()


def _events(rx: Receiver) -> list[tuple[str, int]]:
    return [(b["event"], b["incident"]["id"]) for _, b in rx.bodies]


def test_merge_split_and_acknowledging_wake_the_dispatcher(woken) -> None:  # noqa: ANN001
    p, rx = woken
    now = time.time()
    p.ingest([_alert("db", now)])
    p.ingest([_alert("api", now + 3000)])  # far apart: two incidents
    wait(lambda: len(rx.bodies) == 2)
    (_, a), (_, b) = _events(rx)
    p.ops.merge(a, [b], "ann")
    wait(lambda: ("merged", b) in _events(rx))
    signal_id = p.stores.signals.list(incident_id=a, limit=10)[0]["id"]
    new = p.ops.split(a, [signal_id], "ann")["id"]
    wait(lambda: ("opened", new) in _events(rx))
    p.act(a, "ack", "ann")
    wait(lambda: ("acknowledged", a) in _events(rx))


def test_expiring_a_silence_wakes_the_dispatcher(woken) -> None:  # noqa: ANN001
    p, rx = woken
    silence = p.add_silence({"matchers": ['service="cache"'], "duration_s": 3600}, "ann")
    p.ingest([_alert("cache", time.time())])
    assert p.stores.incidents.list()[1] == 0  # muted
    p.expire_silence(silence["id"], "ann")  # the alert still fires: it opens its incident now
    wait(lambda: [e for e, _ in _events(rx)] == ["opened"])
