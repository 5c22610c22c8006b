"""A notification target's URL is a credential (a Slack webhook's path is its token): answers show where it
points, never the whole of it; delivery still uses it whole, and a URL sent back masked keeps its value."""

from __future__ import annotations

import pytest
from tests.aiops.incidents.test_incident_notifications import AM, Receiver, wait
from tests.aiops.ingestion._helpers import API, alert, am_payload
from tests.conftest import free_port

from opsloop.aiops.incidents.notifications import mask_url

SLACK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"


def test_a_webhook_url_shows_its_scheme_and_host_only() -> None:
    assert mask_url(SLACK) == "https://hooks.slack.com/***"
    assert mask_url("http://user:pw@hooks.example:8080/?token=s3cret") == "http://hooks.example:8080/***"
    assert mask_url("https://hooks.example") == "https://hooks.example"


def test_no_answer_shows_a_targets_url_or_headers(client) -> None:  # noqa: ANN001
    targets = [{"name": "slack", "url": SLACK, "format": "slack", "headers": {"Authorization": "Bearer s3cret"}}]
    answers = [client.put(API + "/notifications/targets", json=targets), client.get(API + "/notifications/targets"),
               client.get(API + "/aiops/config/notification_targets"),
               client.put(API + "/aiops/config/notification_targets", json=targets)]
    for r in answers:
        assert r.status_code == 200, r.text
        assert "XXXXXXXX" not in r.text and "s3cret" not in r.text, r.text
        assert "https://hooks.slack.com/***" in r.text
    assert client.app.state.aiops.router.targets[0].url == SLACK  # delivery still has it whole


def test_a_url_sent_back_masked_keeps_its_value_and_delivery_uses_it(client) -> None:  # noqa: ANN001
    rx = Receiver(free_port())
    try:
        url = f"http://127.0.0.1:{rx.port}/hook/s3cret-token"
        client.put(API + "/notifications/targets", json=[{"name": "oncall", "url": url}])
        [shown] = client.get(API + "/aiops/config/notification_targets").json()["notification_targets"]
        assert shown["url"] == f"http://127.0.0.1:{rx.port}/***"
        shown["min_severity"] = "warning"
        r = client.put(API + "/aiops/config/notification_targets", json=[shown])  # read, change a field, write back
        assert r.status_code == 200, r.text
        client.post(AM, json=am_payload([alert("Down", "db")]))
        wait(lambda: rx.bodies)
        assert rx.bodies[0][0] == "/hook/s3cret-token"
        other = {**shown, "name": "new"}  # a mask standing for no stored url: refused, never stored
        r = client.put(API + "/notifications/targets", json=[other])
        assert r.status_code == 400 and "url" in r.text, r.text
        assert client.app.state.aiops.router.targets[0].url == url
    finally:
        rx.close()


@pytest.mark.parametrize("url", ["http://", "http://exa mple.com/hook", "http://[::1/hook", "http://h:99999/hook",
                                 "https://:8080/hook", "http://h:0/hook"])
def test_a_url_no_notification_could_be_posted_to_is_refused(client, url: str) -> None:  # noqa: ANN001
    for path in ("/notifications/targets", "/aiops/config/notification_targets"):
        r = client.put(API + path, json=[{"name": "x", "url": url}])
        assert r.status_code == 400 and r.json()["field"] == "url", r.text
    assert client.get(API + "/notifications/targets").json()["targets"] == []


@pytest.mark.parametrize("headers", [{"X-Token": "café"}, {"X-Token": "a\r\nX-Injected: 1"}, {"Bad Name": "x"}])
def test_a_header_no_request_could_carry_is_refused(client, headers: dict) -> None:  # noqa: ANN001
    r = client.put(API + "/notifications/targets", json=[{"name": "x", "url": "https://hooks.example/a",
                                                          "headers": headers}])
    assert r.status_code == 400 and r.json()["field"] == "headers", r.text


def test_a_stored_target_whose_header_cannot_be_sent_dead_letters_its_notification_at_once(client) -> None:  # noqa: ANN001
    """Stored before headers were checked (and read as stored): its notification is a dead letter saying why,
    not a row claimed and retried for ever with a traceback each time."""
    from opsloop.aiops.incidents.notifications import Target

    client.app.state.aiops.router.set_targets([Target.from_dict(
        {"name": "old", "url": "http://127.0.0.1:1/hook", "headers": {"X-Token": "café"}})])
    client.post(AM, json=am_payload([alert("Down", "db")]))
    [dead] = wait(lambda: client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"])
    assert dead["attempts"] == 1 and "cannot be sent" in dead["last_error"], dead


def test_an_authorization_header_the_urls_user_would_replace_is_refused(client) -> None:  # noqa: ANN001
    r = client.put(API + "/notifications/targets", json=[{"name": "x", "url": "https://bot:pw@hooks.example/a",
                                                          "headers": {"Authorization": "Bearer t0ken"}}])
    assert r.status_code == 400 and r.json()["field"] == "headers", r.text
    ok = client.put(API + "/notifications/targets", json=[{"name": "x", "url": "https://bot:pw@hooks.example/a"}])
    assert ok.status_code == 200, ok.text
