"""Prometheus pull: query_range answers become metric points; errors are recorded, not fatal."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.aiops.ingestion._helpers import API, signals

from opsloop.aiops.ingestion.prometheus_pull import PullQuery, PullScheduler, decode_matrix
from opsloop.errors import InvalidInputError


def test_decode_matrix_and_query_validation() -> None:
    payload = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "up", "job": "node"}, "values": [[100.0, "1"], [115.0, "0"], [130.0, "NaN"]]},
        {"metric": {"job": "node"}, "values": [[100.0, "0.5"]]}]}}
    points = decode_matrix(payload, "expr")
    assert [(p.labels["__name__"], p.time, p.value) for p in points] == [
        ("up", 100.0, 1.0), ("up", 115.0, 0.0), ("expr", 100.0, 0.5)]
    with pytest.raises(InvalidInputError):
        decode_matrix({"status": "error", "error": "parse error"}, "x")
    for bad in ({"name": "x", "url": "ftp://p", "query": "up"}, {"name": "x", "url": "http://p"},
                {"name": "x", "url": "http://p", "query": "up", "interval_s": 0}):
        with pytest.raises(InvalidInputError):
            PullQuery.from_dict(bad)


def test_scheduler_pulls_on_schedule_and_survives_errors(client) -> None:  # noqa: ANN001
    pipeline = client.app.state.aiops
    client.put(API + "/aiops/config/prometheus_queries", json=[
        {"name": "up", "url": "http://prom.test", "query": "up", "interval_s": 30, "step_s": 15, "lookback_s": 60},
        {"name": "broken", "url": "http://down.test", "query": "up", "interval_s": 30}])
    asked = []
    clock = [1_000_000.0]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.test":
            raise httpx.ConnectError("connection refused")
        asked.append(dict(request.url.params))
        t = float(request.url.params["end"])
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "api"}, "values": [[t - 15, "1"], [t, "1"]]}]}})

    scheduler = PullScheduler(pipeline, clock=lambda: clock[0])

    async def rounds() -> list[int]:
        out = []
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
            out.append(await scheduler.run_once(c))
            out.append(await scheduler.run_once(c))  # not due yet
            clock[0] += 31
            out.append(await scheduler.run_once(c))
        return out

    assert asyncio.run(rounds()) == [2, 0, 2]
    assert float(asked[0]["start"]) == pytest.approx(1_000_000.0 - 60)
    assert float(asked[1]["start"]) > 1_000_000.0  # the next pull starts after the last point
    assert "connection refused" in scheduler.errors["broken"]
    [series] = [s for s in signals(client, kind="metric") if s["source"] == "prometheus"]
    assert series["labels"] == {"__name__": "up", "job": "api"} and series["count"] == 2


def test_pulls_authenticate_and_report_their_status(client) -> None:  # noqa: ANN001
    import base64

    pipeline = client.app.state.aiops
    r = client.put(API + "/aiops/config/prometheus_queries", json=[
        {"name": "bearer", "url": "http://prom.test", "query": "up", "headers": {"Authorization": "Bearer T0K"}},
        {"name": "basic", "url": "http://prom.test", "query": "up", "basic_auth": {"username": "u", "password": "p4ss"}},
        {"name": "wrong", "url": "http://prom.test", "query": "up", "basic_auth": {"username": "u", "password": "no"}}])
    assert r.status_code == 200, r.text
    assert "T0K" not in r.text and "p4ss" not in r.text
    good = {"Bearer T0K", "Basic " + base64.b64encode(b"u:p4ss").decode()}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") not in good:
            return httpx.Response(401, text="Unauthorized")
        t = float(request.url.params["end"])
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "api"}, "values": [[t, "1"]]}]}})

    scheduler = PullScheduler(pipeline, clock=lambda: 1_000_000.0)

    async def pull() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
            return await scheduler.run_once(c)

    assert asyncio.run(pull()) == 2
    status = {q["name"]: q for q in scheduler.status()}
    assert status["bearer"]["pulled"] == 1 and status["bearer"]["error"] is None
    assert status["basic"]["pulled"] == 1
    assert status["wrong"]["pulled"] == 0 and "refused the credentials (HTTP 401)" in status["wrong"]["error"]
    for bad in ({"basic_auth": {"username": "u"}}, {"basic_auth": "u:p"}, {"headers": {"X": 1}}):
        r = client.put(API + "/aiops/config/prometheus_queries",
                       json=[{"name": "x", "url": "http://prom.test", "query": "up", **bad}])
        assert r.status_code == 400, r.text
    assert client.get(API + "/aiops/prometheus").status_code == 200


def test_a_removed_query_leaves_no_stale_error(client) -> None:  # noqa: ANN001
    client.put(API + "/aiops/config/prometheus_queries", json=[{"name": "down", "url": "http://down.test", "query": "up"}])
    scheduler = PullScheduler(client.app.state.aiops, clock=lambda: 1_000_000.0)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async def pull() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as c:
            return await scheduler.run_once(c)

    asyncio.run(pull())
    assert "connection refused" in scheduler.status()[0]["error"]
    client.put(API + "/aiops/config/prometheus_queries", json=[])
    assert scheduler.status() == []


def test_a_restarted_scheduler_resumes_where_the_last_pulls_got_to(client) -> None:  # noqa: ANN001
    """A new scheduler (a restart, or a new AIOps leader) an hour later asks for the points since the last
    one pulled, so the hour Prometheus kept while nobody pulled is in the history; not just ``lookback_s``."""
    import time

    pipeline = client.app.state.aiops
    client.put(API + "/aiops/config/prometheus_queries", json=[
        {"name": "up", "url": "http://prom.test", "query": "up", "interval_s": 30, "step_s": 15, "lookback_s": 60}])
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:  # a sample every 15 s, on the multiples of 15
        asked.append(dict(request.url.params))
        start, end = float(request.url.params["start"]), float(request.url.params["end"])
        values = [[t, "1"] for t in range(int(start // 15 + 1) * 15, int(end) + 1, 15)]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "api"}, "values": values}]}})

    async def pull(at: float) -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
            return await PullScheduler(pipeline, clock=lambda: at).run_once(c)

    first = float(int(time.time()) // 15 * 15 - 7200 + 5)  # two hours ago, 5 s past a sample
    assert asyncio.run(pull(first)) == 4  # the first pull: lookback_s
    assert float(asked[0]["start"]) == pytest.approx(first - 60)
    assert asyncio.run(pull(first + 3600)) == 240  # an hour later, by a new scheduler: the whole hour
    assert float(asked[1]["start"]) == pytest.approx(first - 5 + 0.015)  # just after the last point pulled
    store = pipeline.stores.metric_points
    [series] = store.series(name="up")
    assert len(store.points(series["series"])["points"]) == 244  # every sample, once
