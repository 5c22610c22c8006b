"""Logs pushed over OTLP become templates that are queryable and keep their ids across restarts."""

from __future__ import annotations

import time

import httpx


def _otlp(service: str, lines: list[str]) -> dict:
    now = time.time_ns()
    return {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(now + i), "severityText": "INFO", "body": {"stringValue": line}}
            for i, line in enumerate(lines)]}],
    }]}


def _templates(url: str, service: str) -> list[dict]:
    return httpx.get(f"{url}/api/opsloop/v1/logs/templates", params={"service": service}).json()["templates"]


def test_pushed_logs_are_mined_persisted_and_stable_across_restart(opsloop_server, tmp_path) -> None:  # noqa: ANN001
    data_dir = tmp_path / "data"
    server = opsloop_server(data_dir)
    lines = [f"user {u} logged in from 10.0.0.{u} in {u * 3} ms" for u in range(20)]
    lines += [f"cache miss for key item:{k}" for k in range(5)]
    resp = httpx.post(f"{server.url}/v1/logs", json=_otlp("auth", lines))
    assert resp.status_code == 200, resp.text
    server.stop()  # a clean stop persists the miner

    again = opsloop_server(data_dir)
    before = {t["template"]: t for t in _templates(again.url, "auth")}
    assert len(before) == 2 and sum(t["count"] for t in before.values()) == 25
    login = next(t for t in before.values() if t["template"].startswith("user"))
    assert login["count"] == 20 and login["examples"]
    httpx.post(f"{again.url}/v1/logs", json=_otlp("auth", ["user 99 logged in from 10.9.9.9 in 1 ms"]))
    again.stop()

    third = opsloop_server(data_dir)
    after = {t["id"]: t for t in _templates(third.url, "auth")}
    assert after[login["id"]]["count"] == 21  # the same template id, one more line
    services = httpx.get(f"{third.url}/api/opsloop/v1/logs/services").json()["services"]
    assert services == [{"service": "auth", "templates": 2, "lines": 26, "last_seen": services[0]["last_seen"]}]
