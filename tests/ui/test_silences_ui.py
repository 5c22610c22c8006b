"""Silences page: from an incident's "Silence…" link to a silence that mutes its alert, then expired."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

API = "/api/opsloop/v1"


def _alert(name: str, service: str, start: float, **labels: str) -> dict:
    return {"version": "4", "status": "firing", "receiver": "opsloop", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "alerts": [{
                "status": "firing", "labels": {"alertname": name, "service": service, "severity": "warning", **labels},
                "annotations": {}, "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                "endsAt": "0001-01-01T00:00:00Z"}]}


def test_silence_an_incident_from_its_page_then_expire_it(page, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    url = ui_server.url
    r = httpx.post(url + API + "/ingest/alertmanager", json=_alert("DiskAlmostFull", 'batch "nightly"', time.time()))
    assert r.status_code == 200, r.text
    (incident_id,) = r.json()["incidents_opened"]

    page.goto(f"/#/incidents/{incident_id}")
    page.locator("#silence-link").click()
    expect(page.locator("h1")).to_have_text("Silences")
    matchers = page.locator("#silence-matchers")
    expect(matchers).to_have_value('alertname="DiskAlmostFull"\nservice="batch \\"nightly\\""')
    page.locator("#silence-duration").select_option("3600")
    page.locator("#silence-comment").fill("disk being replaced")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").first).to_contain_text("is active until")
    rows = page.locator("#silences-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text('service="batch \\"nightly\\""')
    expect(rows.first).to_contain_text("disk being replaced")
    shot(page, "silences-active")

    # The silence mutes the alert: the same alert from another host opens and updates no incident.
    (silence,) = httpx.get(url + API + "/silences").json()["silences"]
    assert silence["ends_at"] - silence["starts_at"] == pytest.approx(3600, abs=5)
    again = httpx.post(url + API + "/ingest/alertmanager",
                       json=_alert("DiskAlmostFull", 'batch "nightly"', time.time() + 1, instance="host-2")).json()
    assert again["suppressed"] == 1 and not again["incidents_opened"] and not again["incidents_updated"], again

    # A form without matchers says so; Expire ends the silence; "show ended" lists it again.
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("at least one matcher")
    rows.first.locator("button[data-action=expire]").click()
    expect(page.locator("#silences-host")).to_contain_text("No silence")
    page.locator("#silence-all").check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("expired")
    assert httpx.get(url + API + "/silences").json()["silences"] == []


def test_a_maintenance_window_is_scheduled_ahead_from_the_form(page, ui_server) -> None:  # noqa: ANN001
    # The form always started a silence now: a maintenance window planned for tonight could not be entered.
    from playwright.sync_api import expect

    before = len(httpx.get(ui_server.url + API + "/silences", params={"all": "true"}).json()["silences"])
    page.goto("/#/silences")
    page.locator("#silence-matchers").fill('service="warehouse"')
    page.locator("#silence-kind").select_option("maintenance")
    start = page.evaluate("""() => { const d = new Date(Date.now() + 3 * 3600e3); d.setSeconds(0, 0);
      const pad = (n) => String(n).padStart(2, '0');
      return [`${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`,
              d.getTime() / 1000]; }""")
    page.locator("#silence-starts").fill(start[0])
    page.locator("#silence-duration").select_option("7200")
    page.locator("#silence-comment").fill("warehouse DB upgrade")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").first).to_contain_text("is pending from")
    row = page.locator("#silences-table tbody tr", has_text="warehouse")
    expect(row).to_contain_text("pending")
    [made] = [s for s in httpx.get(ui_server.url + API + "/silences").json()["silences"] if s["comment"] == "warehouse DB upgrade"]
    assert made["starts_at"] == pytest.approx(start[1], abs=1)
    assert made["ends_at"] - made["starts_at"] == pytest.approx(7200, abs=1)
    assert made["kind"] == "maintenance"
    # one that would already have ended is refused before it is made
    page.locator("#silence-matchers").fill('service="warehouse"')
    page.locator("#silence-starts").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("has already ended")
    assert len(httpx.get(ui_server.url + API + "/silences", params={"all": "true"}).json()["silences"]) == before + 1
    assert not page.js_errors
