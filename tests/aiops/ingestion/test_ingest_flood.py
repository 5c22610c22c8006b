"""A flood from one sender is rate limited (429 + Retry-After) while other senders lose nothing."""

from __future__ import annotations

import threading
import time

import httpx
from tests.aiops.ingestion._helpers import API, aiops_client, signals

from opsloop.aiops.ingestion.ratelimit import RateLimiter
from opsloop.errors import RateLimitedError


def _events(sender: str, batch: int, n: int) -> dict:
    return {"events": [{"service": sender, "text": f"{sender} event {batch}-{i}", "labels": {"i": str(i)}}
                       for i in range(n)]}


def test_rate_limiter_bucket() -> None:
    now = [0.0]
    rl = RateLimiter(10, burst_s=1, clock=lambda: now[0])
    rl.charge("a", 10)
    try:
        rl.charge("a", 5)
        raise AssertionError("should be limited")
    except RateLimitedError as exc:
        assert exc.retry_after == 0.5
    rl.charge("b", 10)  # another sender is unaffected
    now[0] = 1.0
    rl.charge("a", 10)
    now[0] = 100.0
    rl.charge("a", 500)  # a batch larger than the bucket passes when the bucket is full
    try:
        rl.check("a")
        raise AssertionError("an empty bucket refuses before decoding")
    except RateLimitedError:
        pass


def test_flood_is_limited_others_unaffected(tmp_path) -> None:  # noqa: ANN001
    with aiops_client(tmp_path, rate_limit_per_sender=100.0) as client:
        flood_ok = flood_limited = 0
        for batch in range(30):
            r = client.post(API + "/events", json=_events("flood", batch, 100), headers={"X-Opsloop-Sender": "flood"})
            if r.status_code == 429:
                flood_limited += 1
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
            else:
                assert r.status_code == 200
                flood_ok += 1
            if batch % 3 == 0:
                r = client.post(API + "/events", json=_events("quiet", batch, 5), headers={"X-Opsloop-Sender": "quiet"})
                assert r.status_code == 200, r.text
        assert flood_limited > 20 and flood_ok >= 2
        assert len(signals(client, service="quiet")) == 50
        assert len(signals(client, service="flood")) == flood_ok * 100


def test_flood_against_a_running_server(opsloop_server) -> None:  # noqa: ANN001
    server = opsloop_server(env={"OPSLOOP_INGESTION__RATE_LIMIT_PER_SENDER": "500"})
    stop = time.monotonic() + 4.0
    flood = {"ok": 0, "limited": 0}

    def flooder() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            batch = 0
            while time.monotonic() < stop:
                r = c.post(API + "/events", json=_events("flood", batch, 200), headers={"X-Opsloop-Sender": "flood"})
                flood["ok" if r.status_code == 200 else "limited"] += 1
                assert r.status_code in (200, 429)
                batch += 1

    threads = [threading.Thread(target=flooder) for _ in range(3)]
    for t in threads:
        t.start()
    quiet_sent = 0
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for batch in range(20):
            r = c.post(API + "/events", json=_events("quiet", batch, 10), headers={"X-Opsloop-Sender": "quiet"})
            assert r.status_code == 200, r.text
            quiet_sent += 10
            time.sleep(0.1)
    for t in threads:
        t.join()
    assert flood["limited"] > 0
    rows = httpx.get(server.url + API + "/signals", params={"service": "quiet", "limit": 5000}).json()["signals"]
    assert len(rows) == quiet_sent
    rows = httpx.get(server.url + API + "/signals", params={"service": "flood", "limit": 5000}).json()["signals"]
    assert len(rows) == flood["ok"] * 200
