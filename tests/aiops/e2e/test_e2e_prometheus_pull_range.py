"""End to end with Debian's Prometheus: a scheduled ``query_range`` pull whose last point is far behind (its
query matched nothing for a long while, say ``up == 0``, or Prometheus was down) asks at most the 11,000
points per series that Prometheus answers, rather than failing at every pull from then on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from tests.aiops.e2e.conftest import wait_for
from tests.aiops.ingestion._helpers import API, aiops_client

from opsloop.aiops.ingestion.prometheus_pull import PullScheduler

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]


def test_a_pull_far_behind_asks_what_prometheus_answers(prom_direct, tmp_path: Path) -> None:  # noqa: ANN001
    stack, _ = prom_direct
    wait_for(lambda: httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": 'up{job="node"}'})
             .json()["data"]["result"], 60, "a first scrape", stack)
    with aiops_client(tmp_path) as client:
        r = client.put(API + "/aiops/config/prometheus_queries", json=[{
            "name": "node_up", "url": stack.prometheus_url, "query": 'up{job="node"}', "interval_s": 1,
            "step_s": 0.001, "lookback_s": 1}])
        assert r.status_code == 200, r.text
        scheduler = PullScheduler(client.app.state.aiops)
        scheduler.last_end["node_up"] = time.time() - 30  # 30,000 steps of 1 ms since its last point

        async def pull() -> int:
            async with httpx.AsyncClient(timeout=30) as c:
                return await scheduler.run_once(c)

        pulled = asyncio.run(pull())
        assert scheduler.errors.get("node_up") is None, scheduler.errors
        assert 0 < pulled <= 11_000
