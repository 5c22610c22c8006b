"""A Loki entry refused for its time names the entry's timestamp."""

from __future__ import annotations

import time


def test_loki_refused_time_names_the_timestamp(client) -> None:  # noqa: ANN001
    push = {"streams": [{"stream": {"job": "api"}, "values": [
        [str(time.time_ns() // 10**6), "milliseconds where nanoseconds belong"],
        [str(time.time_ns() + 7200 * 10**9), "two hours ahead"],
        [str(time.time_ns()), "fine"]]}]}
    r = client.post("/loki/api/v1/push", json=push)
    assert r.status_code == 400 and r.json()["accepted"] == 1
    reasons = [x["reason"] for x in r.json()["rejected"]]
    assert len(reasons) == 2 and all(reason.startswith("'timestamp': ") for reason in reasons), reasons
