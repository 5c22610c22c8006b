"""A pull answered with JSON that is not a ``query_range`` result (a proxy's or another API's answer under
``"status": "success"``) is that query's error, and the other queries of the round are pulled: it raised
out of the round, which skipped them and left the query with no error to show."""

from __future__ import annotations

import asyncio

import httpx
from tests.aiops.ingestion._helpers import API

from opsloop.aiops.ingestion.prometheus_pull import PullScheduler


def test_an_answer_that_is_not_a_query_range_result_is_the_querys_error(client) -> None:  # noqa: ANN001
    r = client.put(API + "/aiops/config/prometheus_queries", json=[
        {"name": "odd", "url": "http://odd.test", "query": "up"},
        {"name": "up", "url": "http://prom.test", "query": "up"}])
    assert r.status_code == 200, r.text

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "odd.test":
            return httpx.Response(200, json={"status": "success", "data": {"result": [{"values": [[1, "x"]]}]}})
        t = float(request.url.params["end"])
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "api"}, "values": [[t, "1"]]}]}})

    scheduler = PullScheduler(client.app.state.aiops)

    async def pull() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
            return await scheduler.run_once(c)

    assert asyncio.run(pull()) == 1
    status = {s["name"]: s for s in scheduler.status()}
    assert "not a Prometheus query_range result" in (status["odd"]["error"] or ""), status
    assert status["up"]["error"] is None and status["up"]["pulled"] == 1
