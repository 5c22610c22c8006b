"""``opsloop incidents notifications`` lists the outbox, ``opsloop incidents replay`` sends dead letters again:
a webhook that refused notifications while it was misconfigured gets them once it is fixed."""

from __future__ import annotations

import json

import httpx
from tests.aiops.incidents.test_incident_cli import run
from tests.aiops.incidents.test_incident_notifications import AM, Receiver, wait
from tests.aiops.ingestion._helpers import API, alert, am_payload
from tests.conftest import free_port


def test_dead_letters_are_listed_and_replayed_from_the_cli(server) -> None:  # noqa: ANN001
    rx = Receiver(free_port(), status=404)  # Slack's answer for a removed webhook: a dead letter at once
    try:
        httpx.put(server.url + API + "/notifications/targets",
                  json=[{"name": "slack", "url": f"http://127.0.0.1:{rx.port}/hook"}]).raise_for_status()
        httpx.post(server.url + AM, json=am_payload([alert("Down", "db")])).raise_for_status()
        dead = wait(lambda: json.loads(run(server.url, "notifications", "--state", "dead", "--json").stdout))
        table = run(server.url, "notifications", "--state", "dead")
        assert table.returncode == 0 and "1 notification" in table.stdout and "HTTP 404" in table.stdout, table
        assert run(server.url, "replay").returncode == 1  # neither ids nor --all: says so, sends nothing
        rx.status = 200
        out = run(server.url, "replay", str(dead[0]["id"]), "--actor", "ann")
        assert out.returncode == 0 and out.stdout.startswith("1 dead letter queued again"), out
        wait(lambda: json.loads(run(server.url, "notifications", "--state", "delivered", "--json").stdout))
        assert [b["event"] for _, b in rx.bodies] == ["opened", "opened"]
        assert run(server.url, "replay", "--all").stdout.startswith("0 dead letters queued again")
    finally:
        rx.close()
