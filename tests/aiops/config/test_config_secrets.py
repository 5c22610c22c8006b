"""Secrets in the pipeline settings: masked when read, kept when the mask is written back, never leaked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.aiops.ingestion._helpers import API, aiops_client

TOKEN = "Bearer s3cr3t-token"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with aiops_client(tmp_path) as c:
        yield c


def _target(name: str = "oncall", **headers: str) -> dict[str, object]:
    return {"name": name, "url": "http://127.0.0.1:9/hook", "headers": headers}


def _stored(client: TestClient, key: str) -> list[dict[str, object]]:
    """What the pipeline uses (the server's own store, not the API view)."""
    return client.app.state.aiops.stores.ops.get_config(key, [])  # type: ignore[attr-defined]


def test_reading_a_setting_never_shows_its_secrets(client: TestClient) -> None:
    r = client.put(API + "/aiops/config/notification_targets", json=[_target(Authorization=TOKEN)])
    assert r.status_code == 200, r.text
    assert TOKEN not in r.text
    for path in ("/aiops/config/notification_targets", "/notifications/targets"):
        body = client.get(API + path)
        assert TOKEN not in body.text
    got = client.get(API + "/aiops/config/notification_targets").json()["notification_targets"]
    assert got[0]["headers"] == {"Authorization": "***"}
    assert _stored(client, "notification_targets")[0]["headers"] == {"Authorization": TOKEN}


def test_writing_back_what_was_read_keeps_the_stored_secret(client: TestClient) -> None:
    client.put(API + "/aiops/config/notification_targets", json=[_target(Authorization=TOKEN)])
    got = client.get(API + "/aiops/config/notification_targets").json()["notification_targets"]
    got[0]["min_severity"] = "error"
    got[0]["headers"]["X-Team"] = "sre"  # a new, visible header beside the masked one
    assert client.put(API + "/aiops/config/notification_targets", json=got).status_code == 200
    stored = _stored(client, "notification_targets")[0]
    assert stored["headers"] == {"Authorization": TOKEN, "X-Team": "sre"}
    assert stored["min_severity"] == "error"
    # the targets route takes the same round trip
    again = client.get(API + "/notifications/targets").json()["targets"]
    assert client.put(API + "/notifications/targets", json=again).status_code == 200
    assert _stored(client, "notification_targets")[0]["headers"]["Authorization"] == TOKEN
    assert client.app.state.aiops.router.targets[0].headers["Authorization"] == TOKEN  # type: ignore[attr-defined]


def test_a_mask_with_nothing_behind_it_is_refused_and_stores_nothing(client: TestClient) -> None:
    client.put(API + "/aiops/config/notification_targets", json=[_target(Authorization=TOKEN)])
    for bad in ([_target("other", Authorization="***")], [_target(Cookie="***")]):
        r = client.put(API + "/aiops/config/notification_targets", json=bad)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "headers"
    assert _stored(client, "notification_targets") == [_target(Authorization=TOKEN)]


def test_runbook_env_is_masked_and_restored(client: TestClient) -> None:
    book = {"name": "restart", "trigger": {"matchers": ['service="api"']},
            "action": {"type": "command", "argv": ["true"], "env": {"API_KEY": "k-123", "MODE": "fast"}}}
    r = client.put(API + "/aiops/config/runbooks", json=[book])
    assert r.status_code == 200, r.text
    assert "k-123" not in r.text
    got = client.get(API + "/aiops/config/runbooks").json()["runbooks"]
    assert got[0]["action"]["env"] == {"API_KEY": "***", "MODE": "***"}
    got[0]["action"]["env"]["MODE"] = "slow"
    assert client.put(API + "/aiops/config/runbooks", json=got).status_code == 200
    assert _stored(client, "runbooks")[0]["action"]["env"] == {"API_KEY": "k-123", "MODE": "slow"}
    assert client.app.state.aiops.runbooks.runbooks["restart"].action.env == {  # type: ignore[attr-defined]
        "API_KEY": "k-123", "MODE": "slow"}


def test_settings_without_secrets_read_back_unchanged(client: TestClient) -> None:
    rules = [{"name": "lat", "selector": 'latency{job="api"}'}]
    assert client.put(API + "/aiops/config/watch_rules", json=rules).status_code == 200
    assert client.get(API + "/aiops/config/watch_rules").json()["watch_rules"] == rules


def test_a_pagerduty_routing_key_is_a_secret_too(client: TestClient) -> None:
    target = {"name": "pd", "url": "https://events.pagerduty.com/v2/enqueue", "format": "pagerduty",
              "routing_key": "R0UT1NGKEY"}
    r = client.put(API + "/notifications/targets", json=[target])
    assert r.status_code == 200, r.text
    assert "R0UT1NGKEY" not in r.text
    got = client.get(API + "/aiops/config/notification_targets").json()["notification_targets"]
    assert got[0]["routing_key"] == "***" and "R0UT1NGKEY" not in str(got)
    got[0]["min_severity"] = "critical"
    assert client.put(API + "/aiops/config/notification_targets", json=got).status_code == 200
    assert _stored(client, "notification_targets")[0]["routing_key"] == "R0UT1NGKEY"
    assert client.app.state.aiops.router.targets[0].routing_key == "R0UT1NGKEY"  # type: ignore[attr-defined]
