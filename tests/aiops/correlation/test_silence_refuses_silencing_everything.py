"""A silence must name what it mutes: one whose every matcher also matches an alert without that label
(``severity=~".*"``, ``team=""``, ``env!="dev"`` alone) would mute every alert, and is refused as
Alertmanager refuses it, through opsloop's API and Alertmanager's alike; nothing is stored."""

from __future__ import annotations

import time

import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@pytest.mark.parametrize("matchers", ['{severity=~".*"}', 'team=""', ['env!="dev"', 'team!~"x|y"']])
def test_a_silence_of_every_alert_is_refused(client, matchers) -> None:  # noqa: ANN001
    r = client.post(API + "/silences", json={"matchers": matchers, "duration_s": 600})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "matchers" and "empty" in r.json()["message"]
    am = [{"name": "severity", "value": ".*", "isRegex": True, "isEqual": True}]
    r = client.post("/api/v2/silences", json={"matchers": am, "startsAt": _iso(time.time()),
                                              "endsAt": _iso(time.time() + 600), "createdBy": "ann", "comment": "x"})
    assert r.status_code == 400 and "empty" in r.json()
    assert client.get(API + "/silences", params={"all": "true"}).json()["silences"] == []
    client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")]))
    assert len(incidents(client)) == 1, "the alert was not muted"


def test_a_silence_with_one_matcher_that_names_something_is_taken(client) -> None:  # noqa: ANN001
    r = client.post(API + "/silences", json={"matchers": '{env!="dev", service="db"}', "duration_s": 600})
    assert r.status_code == 200, r.text
    client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")]))
    assert incidents(client) == []
