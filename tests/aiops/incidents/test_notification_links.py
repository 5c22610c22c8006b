"""Notifications link their incident in the UI (notifications.link_url, else server.advertise_url), in each
format: the generic JSON's incident.url, Slack's attachment title link, PagerDuty's event links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from tests.aiops.incidents.test_incident_notifications import AM, Receiver, wait
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents
from tests.conftest import free_port

from opsloop.server.app import create_app
from opsloop.settings import load_settings


def _bodies(tmp_path: Path, overrides: dict[str, Any]) -> tuple[int, dict[str, dict[str, Any]]]:
    settings = load_settings({"storage": {"data_dir": str(tmp_path / "data")}, **overrides}, environ={})
    rx = Receiver(free_port())
    try:
        base = f"http://127.0.0.1:{rx.port}"
        with TestClient(create_app(settings)) as client:
            assert client.put(API + "/notifications/targets", json=[
                {"name": "generic", "url": base + "/generic"},
                {"name": "slack", "url": base + "/slack", "format": "slack"},
                {"name": "pd", "url": base + "/pd", "format": "pagerduty", "routing_key": "k"}]).status_code == 200
            client.post(AM, json=am_payload([alert("Down", "db", severity="critical")]))
            wait(lambda: len(rx.bodies) >= 3)
            [inc] = incidents(client)
    finally:
        rx.close()
    return inc["id"], {path.strip("/"): body for path, body in rx.bodies}


def test_each_format_links_the_incident_in_the_ui(tmp_path: Path) -> None:
    number, bodies = _bodies(tmp_path, {"notifications": {"link_url": "https://opsloop.example.com/"}})
    link = f"https://opsloop.example.com/#/incidents/{number}"
    assert bodies["generic"]["incident"]["url"] == link
    assert bodies["slack"]["attachments"][0]["title_link"] == link
    assert bodies["pd"]["links"] == [{"href": link, "text": f"Incident #{number} in opsloop"}]


def test_the_advertised_url_is_the_default_and_without_either_there_is_no_link(tmp_path: Path) -> None:
    number, bodies = _bodies(tmp_path / "a", {"server": {"advertise_url": "http://ops-1:5000"}})
    assert bodies["generic"]["incident"]["url"] == f"http://ops-1:5000/#/incidents/{number}"
    _, bodies = _bodies(tmp_path / "b", {})
    assert "url" not in bodies["generic"]["incident"]
    assert "title_link" not in bodies["slack"]["attachments"][0] and "links" not in bodies["pd"]


def test_delivered_retention_is_a_setting(tmp_path: Path) -> None:
    settings = load_settings({"storage": {"data_dir": str(tmp_path / "data")},
                              "notifications": {"delivered_retention_days": 0.5}}, environ={})
    with TestClient(create_app(settings)) as client:
        assert client.app.state.aiops.dispatcher.delivered_retention_s == 0.5 * 86400
