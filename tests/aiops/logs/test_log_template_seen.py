"""A template's first_seen and last_seen are the earliest and latest times of its lines, whatever order the lines
come in (streams of several hosts in one push, a shipper's backlog): first_seen was the first line to arrive and
last_seen the last one's time, even when earlier."""

from __future__ import annotations

import time
from pathlib import Path

from tests.aiops.ingestion._helpers import API, aiops_client

from opsloop.aiops.logs import LogMiner


def test_first_and_last_seen_are_the_earliest_and_latest_line_times() -> None:
    miner = LogMiner()
    for t in (100.0, 50.0, 200.0, 150.0):
        tid = miner.add(f"request {int(t)} served", service="web", time=t).template_id
    template = miner.template(tid)
    assert (template.count, template.first_seen, template.last_seen) == (4, 50.0, 200.0)


def test_loki_streams_of_two_hosts_out_of_order(tmp_path: Path) -> None:
    t0 = int(time.time()) - 600
    streams = [{"stream": {"service_name": "web", "host": host},
                "values": [[str((t0 + s) * 10**9), f"request {s} served in {s} ms"] for s in seconds]}
               for host, seconds in (("b", (300, 400)), ("a", (0, 100)))]
    with aiops_client(tmp_path) as client:
        assert client.post("/loki/api/v1/push", json={"streams": streams}).status_code == 204
    with aiops_client(tmp_path) as client:  # the stop saved the counts
        (template,) = client.get(API + "/logs/templates", params={"service": "web"}).json()["templates"]
    assert (template["count"], template["first_seen"], template["last_seen"]) == (4, t0, t0 + 400)


def test_a_template_is_stored_at_birth_with_its_first_line_time(tmp_path: Path) -> None:
    """A new template reaches the store at once, its counts at the next tick: meanwhile the API showed it first
    and last seen on 1970-01-01."""
    t0 = int(time.time()) - 60
    streams = [{"stream": {"service_name": "web"}, "values": [[str(t0 * 10**9), "cache warmed in 12 ms"]]}]
    with aiops_client(tmp_path) as client:
        assert client.post("/loki/api/v1/push", json={"streams": streams}).status_code == 204
        (template,) = client.get(API + "/logs/templates", params={"service": "web"}).json()["templates"]
        assert (template["first_seen"], template["last_seen"]) == (t0, t0)
